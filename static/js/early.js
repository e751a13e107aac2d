/* Runs before first paint (loaded without defer): pages style themselves for scripting from the start. */
document.documentElement.classList.replace("no-js", "js");
