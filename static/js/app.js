// Progressive enhancements; every form works without this file.
(function () {
  "use strict";

  // On a narrow screen the header's links sit behind a "Menu" button; without this file they
  // simply wrap.
  document.querySelectorAll("[data-menu-toggle]").forEach(function (toggle) {
    var menu = document.getElementById(toggle.getAttribute("aria-controls"));
    if (!menu) return;
    toggle.hidden = false;
    toggle.parentNode.setAttribute("data-collapsible", "");
    toggle.addEventListener("click", function () {
      var open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      menu.classList.toggle("open", open);
    });
  });

  // What the upload widget keeps in this browser (opaque codes and salted hashes; file names
  // and files, in what earlier versions left in Uppy's Golden Retriever stores) goes when the
  // session ends: at logout, and on any page seen signed out, such as the login page after a
  // session expired. On a shared computer the next person finds nothing of it.
  function forgetUploads() {
    try {
      Object.keys(window.localStorage).forEach(function (key) {
        if (key.indexOf("secondopinion-upload-") === 0 || key.indexOf("uppyState:") === 0) {
          window.localStorage.removeItem(key);
        }
      });
    } catch (error) {
      // Storage switched off in this browser: nothing was kept.
    }
    if (window.indexedDB) window.indexedDB.deleteDatabase("uppy-blobs");
  }
  document.querySelectorAll("form[data-logout]").forEach(function (form) {
    form.addEventListener("submit", forgetUploads);
  });
  if (document.body.hasAttribute("data-signed-out")) forgetUploads();

  // Removing something that took long to send asks first.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  // The step menu scrolls on a phone: bring the current step into view.
  var step = document.querySelector(".progress-steps [aria-current=step]");
  if (step && step.scrollIntoView) step.scrollIntoView({ block: "nearest", inline: "center" });

  // Browsers send only bare file names for a chosen folder; keep each file's path inside the
  // folder so a CD's layout survives the upload.
  document.querySelectorAll("form[data-images-form]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var folder = form.querySelector("input[name=folder]");
      var hidden = form.querySelector("input[name=relative_paths]");
      if (!folder || !hidden) return;
      var paths = Array.prototype.map.call(folder.files, function (f) {
        return f.webkitRelativePath || f.name;
      });
      hidden.value = JSON.stringify(paths);
    });
  });

  // Say at once when a report is clearly the wrong file, instead of after a long upload.
  document.querySelectorAll("form[data-document-form]").forEach(function (form) {
    var input = form.querySelector("input[type=file]");
    var limit = parseInt(form.dataset.maxBytes, 10);
    if (!input) return;
    input.addEventListener("change", function () {
      var file = input.files[0];
      var problem = "";
      if (file && file.size === 0) {
        problem = "This file is empty (0 bytes). Choose it again.";
      } else if (file && limit && file.size > limit) {
        problem = "This file is " + Math.round(file.size / 1048576) + " MB; we accept reports up to " +
          Math.round(limit / 1048576) + " MB. If it holds your images, add them under “Images” instead.";
      }
      input.setCustomValidity(problem);
      input.setAttribute("aria-invalid", problem ? "true" : "false");
      if (problem) input.reportValidity();
    });
  });

  // A "Copy" button next to a read-only field copies it (the field can be copied by hand too).
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.dataset.copy);
    if (!field || !navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(field.value).then(function () {
        button.textContent = "Copied";
      });
    });
  });
})();
