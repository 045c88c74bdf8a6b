// Study upload: Uppy's dashboard speaking the S3 multipart protocol to our five endpoints.
// Parts go in parallel with retries. A dropped connection resumes where it stopped; after a
// closed tab the patient adds the same folder again and each file goes on from the parts the
// server already holds.
//
// Nothing that names the patient is kept in the browser: file and folder names often carry
// their name and birth date, and the next user of a shared computer could read them. So no
// Golden Retriever (it keeps names in localStorage and the files themselves in IndexedDB);
// what is kept, per case, is the batch's opaque codes and, per file, a salted SHA-256 of its
// path, size and date mapped to the server's opaque key. app.js clears it at logout.
(function () {
  "use strict";
  var root = document.querySelector("[data-study-uploader]");
  if (!root || !window.Uppy) return;

  var csrf = root.dataset.csrf;
  var storageKey = "secondopinion-upload-" + root.dataset.case;
  var saved = JSON.parse(window.localStorage.getItem(storageKey) || "null") || {};
  var batch = saved.batch || null;
  var started = saved.files || {}; // fingerprint -> {key, uploadId}, or {done: true}
  var pending = null;

  function remember() {
    if (!batch) return;
    window.localStorage.setItem(storageKey, JSON.stringify({ batch: batch, files: started }));
  }

  function forget() {
    window.localStorage.removeItem(storageKey);
    batch = null;
    started = {};
    pending = null;
  }

  // A file as this browser sees it, salted with the batch's random code: the same file added
  // again matches, and nothing in it can be read back as a name. Null where the browser
  // offers no hashing (a page not served over HTTPS): such a file starts afresh.
  function fingerprint(file) {
    if (!batch || !window.crypto || !window.crypto.subtle) return Promise.resolve(null);
    var data = file.data || {};
    var text = [batch.upload, file.meta.relativePath || file.name, file.size, data.lastModified || ""].join("\n");
    return window.crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)).then(function (hash) {
      return Array.prototype.map.call(new Uint8Array(hash), function (b) {
        return ("0" + b.toString(16)).slice(-2);
      }).join("");
    });
  }

  function call(method, url, body) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, "Content-Type": "application/json", Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) throw new Error(data.error || "The upload could not go on. Please try again.");
        return data;
      });
    });
  }

  // One batch for all the files chosen, however many start at once.
  function startBatch() {
    if (batch) return Promise.resolve(batch);
    if (!pending) {
      pending = call("POST", root.dataset.startUrl).then(function (data) {
        batch = data;
        remember();
        return batch;
      }, function (error) {
        pending = null;
        throw error;
      });
    }
    return pending;
  }

  var uppy = new Uppy.Uppy({
    id: storageKey,
    autoProceed: false, // started below, once files already sent are set aside
    restrictions: { maxNumberOfFiles: parseInt(root.dataset.maxFiles, 10) || 20000 },
  });
  // A phone or tablet has nothing to drag from and most cannot pick a folder: one button.
  var touch = window.matchMedia && window.matchMedia("(pointer: coarse), (max-width: 47.99rem)").matches;
  uppy.use(Uppy.Dashboard, {
    inline: true,
    target: root,
    height: touch ? 220 : 380,
    width: "100%",
    proudlyDisplayPoweredByUppy: false,
    fileManagerSelectionType: touch ? "files" : "both",
    showProgressDetails: true,
    note: touch
      ? "The image files, or a zip from a patient portal."
      : "The whole folder of your CD, a zip from a patient portal, or the image files.",
    locale: touch ? { strings: { dropPasteFiles: "%{browseFiles}", browseFiles: "Choose files", dropHint: "" } } : undefined,
  });

  // A file added again that already arrived in full is not sent twice.
  var alreadyIn = 0;
  var checks = {};
  uppy.on("file-added", function (file) {
    checks[file.id] = fingerprint(file).then(function (print) {
      if (!print || !started[print] || !started[print].done || !uppy.getFile(file.id)) return;
      uppy.removeFile(file.id);
      alreadyIn += 1;
      uppy.info(alreadyIn + " of these files had already arrived; the others go on from where they stopped.", "info", 8000);
    });
  });

  // Files start as soon as they are chosen.
  uppy.on("files-added", function (files) {
    Promise.all(files.map(function (file) { return checks[file.id]; })).then(function () {
      files.forEach(function (file) { delete checks[file.id]; });
      var waiting = uppy.getFiles().some(function (file) {
        return !(file.progress && file.progress.uploadStarted);
      });
      if (waiting) uppy.upload().catch(function () {});
    });
  });

  // Before the upload starts: a file this browser began sending earlier goes on from the
  // parts the server holds (the uploader lists them) instead of starting again.
  uppy.addPreProcessor(function (fileIDs) {
    return Promise.all(fileIDs.map(function (id) {
      var file = uppy.getFile(id);
      return fingerprint(file).then(function (print) {
        var known = print && started[print];
        if (known && known.uploadId && !(file.s3Multipart && file.s3Multipart.uploadId)) {
          uppy.setFileState(id, { s3Multipart: { key: known.key, uploadId: known.uploadId } });
        }
      });
    }));
  });

  uppy.use(Uppy.AwsS3, {
    limit: 4,
    shouldUseMultipart: function () { return true; },
    getChunkSize: function () { return 8 * 1024 * 1024; },
    createMultipartUpload: function (file) {
      return startBatch().then(function (b) {
        return call("POST", b.files, { relativePath: file.meta.relativePath || file.name, size: file.size });
      }).then(function (created) {
        return fingerprint(file).then(function (print) {
          if (print) {
            started[print] = { key: created.key, uploadId: created.uploadId };
            remember();
          }
          return created;
        });
      });
    },
    signPart: function (file, opts) {
      return call("GET", batch.files + opts.key + "/parts/" + opts.partNumber + "/");
    },
    listParts: function (file, opts) {
      return call("GET", batch.files + opts.key + "/parts/");
    },
    completeMultipartUpload: function (file, opts) {
      return call("POST", batch.files + opts.key + "/complete/", { parts: opts.parts });
    },
    abortMultipartUpload: function (file, opts) {
      if (!batch) return Promise.resolve();
      return fingerprint(file).then(function (print) {
        if (print) {
          delete started[print];
          remember();
        }
        return call("DELETE", batch.files + opts.key + "/");
      });
    },
  });

  uppy.on("upload-success", function (file) {
    fingerprint(file).then(function (print) {
      if (!print || !batch) return;
      started[print] = { done: true };
      remember();
    });
  });

  uppy.on("complete", function (result) {
    if (!batch || !result.successful || !result.successful.length || result.failed.length) return;
    call("POST", batch.finish).then(function (data) {
      forget();
      uppy.cancelAll();
      // Show the new upload in the list; it follows its own check from there.
      window.htmx.ajax("GET", data.detail, { target: "#upload-list", swap: "beforeend" });
      // Images are in now: the button no longer offers to add records later.
      if (proceed && /later$/.test(proceed.textContent.trim())) proceed.textContent = "Save and continue";
    }, function (error) {
      uppy.info(error.message, "error", 10000);
    });
  });

  // "Continue" waits while files are still on their way, with one sentence saying why.
  var step = document.querySelector("form.step-main");
  var proceed = step && step.querySelector("button[type=submit]");
  var wait = document.createElement("p");
  wait.id = "upload-wait";
  wait.setAttribute("role", "status");
  wait.setAttribute("data-testid", "upload-wait");
  wait.textContent = "Your images are still being sent: you can continue once they have arrived.";
  wait.hidden = true;
  if (proceed) proceed.parentNode.insertBefore(wait, proceed);
  function holdBack() {
    var sending = uppy.getFiles().some(function (file) {
      return file.progress && file.progress.uploadStarted && !file.progress.uploadComplete && !file.error;
    });
    if (!proceed) return;
    proceed.disabled = sending;
    wait.hidden = !sending;
    if (sending) proceed.setAttribute("aria-describedby", wait.id);
    else proceed.removeAttribute("aria-describedby");
  }
  ["upload", "upload-progress", "upload-success", "upload-error", "file-removed", "cancel-all", "complete"].forEach(function (name) {
    uppy.on(name, holdBack);
  });

  // The plain form stays as the path for browsers without JavaScript.
  var fallback = document.querySelector("form[data-images-form]");
  if (fallback) fallback.hidden = true;
})();
