// sphinx-togglebutton opens a solution when its title is clicked, but when the click
// lands on the link inside the title ("Solution to Exercise 4.1", a link to the
// exercise) its handler finds no button and logs a ReferenceError. Such a click follows
// the link and goes no further.
document.addEventListener("click", (event) => {
  const link = event.target.closest(".admonition-title a");
  if (link && link.closest(".dropdown")) {
    event.stopPropagation();
  }
}, true);
