// The study viewer's first pictures, before its own script (megabytes) has loaded and started:
// each pane of the current study draws its first image from the PNG the server rendered at the
// image's default window (records/viewer.py; the first pane's is preloaded from the page's
// headers), fitted and centred as the viewer shows it, a mammogram's view turned the same way.
// The viewer removes these pictures as it draws its own (reviewers/static_src/viewer.js, which this
// script loads once they are drawn); once it has started, nothing is drawn.
(function () {
  "use strict";

  // Which side of a drawn mammogram holds the chest wall: the breast is brighter than the air
  // around it and touches the image's edge at the chest wall. Null when the sides are equal.
  function chestWallOnRight(image) {
    var canvas = document.createElement("canvas");
    canvas.width = Math.min(image.naturalWidth, 256);
    canvas.height = Math.min(image.naturalHeight, 256);
    var context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(image, 0, 0, canvas.width, canvas.height);
    var data = context.getImageData(0, 0, canvas.width, canvas.height).data;
    var strip = Math.max(1, Math.floor(canvas.width / 10));
    var left = 0;
    var right = 0;
    for (var y = 0; y < canvas.height; y += 1) {
      for (var x = 0; x < strip; x += 1) {
        left += data[4 * (y * canvas.width + x)];
        right += data[4 * (y * canvas.width + canvas.width - 1 - x)];
      }
    }
    return left === right ? null : right > left;
  }

  function flipped(manifest, pane, image) {
    if (!manifest.mammo) return false;
    var view = manifest.views[pane.image];
    var wallRight =
      view.toward === "A" || view.toward === "P" ? view.toward === "P" : chestWallOnRight(image);
    if (wallRight === null) return false;
    return pane.view[0] === "R" ? !wallRight : wallRight;
  }

  function draw(element, image, flip) {
    var ratio = window.devicePixelRatio || 1;
    var canvas = document.createElement("canvas");
    canvas.dataset.firstImage = "";
    canvas.width = Math.max(1, Math.round(element.clientWidth * ratio));
    canvas.height = Math.max(1, Math.round(element.clientHeight * ratio));
    var context = canvas.getContext("2d");
    var scale = Math.min(canvas.width / image.naturalWidth, canvas.height / image.naturalHeight);
    var width = image.naturalWidth * scale;
    var height = image.naturalHeight * scale;
    if (flip) {
      context.translate(canvas.width, 0);
      context.scale(-1, 1);
    }
    context.imageSmoothingQuality = "high";
    context.drawImage(
      image,
      (canvas.width - width) / 2,
      (canvas.height - height) / 2,
      width,
      height,
    );
    element.prepend(canvas);
  }

  // Each pane's first picture; a promise of each drawing.
  function drawFirstPictures(root) {
    var manifest = JSON.parse(document.getElementById(root.dataset.manifest).textContent);
    return manifest.panes.map(function (pane) {
      if (!pane.first) return null;
      var figure = root.querySelector('[data-pane="' + pane.viewport + '"]');
      var element = figure && figure.querySelector(".viewport");
      if (!element) return null;
      var image = new Image();
      image.src = pane.first;
      return image.decode().then(function () {
        if (root.dataset.ready) return;
        draw(element, image, flipped(manifest, pane, image));
      }); // an image the server cannot render: the viewer says so in its pane
    });
  }

  function startViewer(root) {
    var script = document.createElement("script");
    script.type = "module";
    script.src = root.dataset.viewerScript;
    document.head.append(script);
  }

  // The viewer's own script is asked for once the first pictures are drawn, so that its
  // megabytes do not compete with them for the network and the processor; a picture that fails
  // or is slow to come holds it back for VIEWER_WAIT_MS at most.
  var VIEWER_WAIT_MS = 2000;
  document.querySelectorAll("[data-study-viewer]").forEach(function (root) {
    var drawn = [];
    try {
      drawn = drawFirstPictures(root);
    } finally {
      var late = new Promise(function (resolve) {
        setTimeout(resolve, VIEWER_WAIT_MS);
      });
      Promise.race([Promise.allSettled(drawn), late]).then(function () {
        startViewer(root);
      });
    }
  });
})();
