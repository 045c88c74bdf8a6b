// Study upload: Uppy's dashboard speaking the S3 multipart protocol to our five endpoints.
// Parts go in parallel with retries; a dropped connection or a closed tab resumes where it
// stopped (Golden Retriever keeps the files, our endpoints list the parts already received).
(function () {
  "use strict";
  var root = document.querySelector("[data-study-uploader]");
  if (!root || !window.Uppy) return;

  var csrf = root.dataset.csrf;
  var storageKey = "secondopinion-upload-" + root.dataset.case;
  var batch = JSON.parse(window.localStorage.getItem(storageKey) || "null");
  var pending = null;

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
        window.localStorage.setItem(storageKey, JSON.stringify(batch));
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
    autoProceed: false,
    restrictions: { maxNumberOfFiles: parseInt(root.dataset.maxFiles, 10) || 20000 },
  });
  uppy.use(Uppy.Dashboard, {
    inline: true,
    target: root,
    height: 380,
    width: "100%",
    proudlyDisplayPoweredByUppy: false,
    fileManagerSelectionType: "both",
    showProgressDetails: true,
    note: "The whole folder of your CD, a zip from a patient portal, or the image files.",
  });
  uppy.use(Uppy.GoldenRetriever, { serviceWorker: false });
  uppy.use(Uppy.AwsS3, {
    limit: 4,
    shouldUseMultipart: function () { return true; },
    getChunkSize: function () { return 8 * 1024 * 1024; },
    createMultipartUpload: function (file) {
      return startBatch().then(function (b) {
        return call("POST", b.files, { relativePath: file.meta.relativePath || file.name, size: file.size });
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
      return call("DELETE", batch.files + opts.key + "/");
    },
  });

  uppy.on("complete", function (result) {
    if (!batch || !result.successful || !result.successful.length || result.failed.length) return;
    call("POST", batch.finish).then(function (data) {
      window.localStorage.removeItem(storageKey);
      batch = null;
      pending = null;
      uppy.cancelAll();
      // Show the new upload in the list; it follows its own check from there.
      window.htmx.ajax("GET", data.detail, { target: "#upload-list", swap: "beforeend" });
    }, function (error) {
      uppy.info(error.message, "error", 10000);
    });
  });

  // The plain form stays as the path for browsers without JavaScript.
  var fallback = document.querySelector("form[data-images-form]");
  if (fallback) fallback.hidden = true;
})();
