// Behaviour the pages used to carry in inline handlers (onchange=, onclick=, onfocus=): the
// Content-Security-Policy allows scripts from this origin only, so it lives here, bound by
// delegation to data- attributes (which also covers content htmx swaps in later).
//   <select data-autosubmit>             submits its form when changed (the language menu)
//   <input data-select-on-focus>         selects its whole value on focus (keys, URLs to copy)
//   <button data-copy="ID" data-copied="Copied">   copies the value of #ID to the clipboard
"use strict";

document.addEventListener("change", (event) => {
  const select = event.target.closest("select[data-autosubmit]");
  if (select && select.form) select.form.submit();
});

document.addEventListener("focusin", (event) => {
  const input = event.target.closest("input[data-select-on-focus]");
  if (input) input.select();
});

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source || !navigator.clipboard) return; // the clipboard API needs https (or localhost)
  navigator.clipboard.writeText(source.value).then(() => {
    if (button.dataset.copied) button.textContent = button.dataset.copied;
  });
});
