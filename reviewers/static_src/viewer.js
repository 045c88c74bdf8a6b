// The study viewer: Cornerstone3D stack viewports over the case's images (WADO-RS).
// Built into static/vendor/cornerstone/ by `npm ci && npm run build` in this folder; no CDN.
//
// Every image comes through the site's DICOMweb with the page's session: its series' metadata,
// then its first frame, which the server sends uncompressed (records/dicomweb/retrieve.py), so
// the browser needs no codec.
// Mouse: wheel scrolls through a series, left-drag sets window/level (or draws a length when
// "Measure length" is on), right-drag zooms, middle-drag pans. Keyboard: every control is a
// button or a select; on a focused image, arrow keys step through the slices and + / - zoom.
// Mammograms hang in the four standard views with the chest walls facing; a prior study sits
// beside the current one, pane by pane, zoomed and panned together.
import {
  init as coreInit,
  RenderingEngine,
  Enums,
  eventTarget,
  utilities as csUtils,
} from "@cornerstonejs/core";
import {
  init as toolsInit,
  addTool,
  ToolGroupManager,
  StackScrollTool,
  WindowLevelTool,
  ZoomTool,
  PanTool,
  LengthTool,
  synchronizers,
  utilities as toolUtils,
  Enums as ToolEnums,
} from "@cornerstonejs/tools";
import dicomImageLoader from "@cornerstonejs/dicom-image-loader";

const { MouseBindings } = ToolEnums;
// A frame as the server decodes it, whatever the file's compression.
const EXPLICIT_LE = "1.2.840.10008.1.2.1";
const FRAME_ACCEPT = `multipart/related; type="application/octet-stream"; transfer-syntax=${EXPLICIT_LE}`;
// Stored syntaxes whose frames go out as stored; any other was decoded on the server.
const NATIVE = new Set(["1.2.840.10008.1.2", EXPLICIT_LE, "1.2.840.10008.1.2.1.99"]);
// Each image's attributes (DICOM JSON) by its frame's address, as its series' metadata gave them.
const attributes = new Map();
const seriesRead = new Map();

const valueOf = (json, tag) => (json[tag] && json[tag].Value) || [];

// What a frame is as it arrives: decoded on the server, colour comes as RGB, pixel by pixel
// (records/dicom/transcode.py), whatever the stored file's colour space.
function asDecoded(json) {
  const stored = valueOf(json, "00083002")[0];
  if (NATIVE.has(stored) || Number(valueOf(json, "00280002")[0]) !== 3) return json;
  return {
    ...json,
    "00280004": { vr: "CS", Value: ["RGB"] },
    "00280006": { vr: "US", Value: [0] },
  };
}

// The series' metadata (one request per series), handed to the WADO-RS image loader.
function readSeries(series) {
  if (!seriesRead.has(series.metadata)) {
    const done = fetch(series.metadata, {
      headers: { Accept: "application/dicom+json" },
      credentials: "same-origin",
    })
      .then((response) => {
        if (!response.ok) throw new Error(`The images did not load (${response.status}).`);
        return response.json();
      })
      .then((instances) => {
        const bySop = new Map(instances.map((json) => [valueOf(json, "00080018")[0], json]));
        series.images.forEach((url) => {
          const sop = url.split("/instances/")[1].split("/")[0];
          const json = bySop.get(sop);
          if (!json) return;
          const decoded = asDecoded(json);
          attributes.set(url, decoded);
          dicomImageLoader.wadors.metaDataManager.add(`wadors:${url}`, decoded);
        });
      });
    seriesRead.set(series.metadata, done);
  }
  return seriesRead.get(series.metadata);
}
const ENGINE = "so-viewer";
const TOOLS = "so-tools";

// Window presets (width, level) per modality; every modality also has "default" (the file's
// own window) and "auto" (the image's full range).
const PRESETS = {
  CT: [
    ["brain", "Brain", 80, 40],
    ["lung", "Lung", 1500, -600],
    ["bone", "Bone", 1800, 400],
    ["abdomen", "Abdomen", 400, 50],
  ],
};

// The spacing a length is measured with: PixelSpacing (in the patient), else ImagerPixelSpacing
// (at the detector, as a projection image is), else none (pixels).
function spacingOf(imageId) {
  const json = attributes.get(imageId.replace(/^wadors:/, "")) || {};
  const read = (tag) => {
    const values = valueOf(json, tag).map(Number);
    return values.length === 2 && values.every((v) => v > 0) ? values : null;
  };
  const patient = read("00280030");
  if (patient) return { row: patient[0], column: patient[1], unit: "mm" };
  const detector = read("00181164");
  if (detector) return { row: detector[0], column: detector[1], unit: "mm at detector" };
  return { row: 1, column: 1, unit: "px" };
}

function lengthOf(annotation) {
  const imageId = annotation.metadata.referencedImageId;
  const [a, b] = annotation.data.handles.points.map((p) => csUtils.worldToImageCoords(imageId, p));
  if (!a || !b) return null;
  const spacing = spacingOf(imageId);
  const dx = (b[0] - a[0]) * spacing.column;
  const dy = (b[1] - a[1]) * spacing.row;
  const value = Math.hypot(dx, dy);
  const shown = spacing.unit === "px" ? value.toFixed(0) : value.toFixed(1);
  return `${shown} ${spacing.unit}`;
}

function setUpTools() {
  [StackScrollTool, WindowLevelTool, ZoomTool, PanTool, LengthTool].forEach((t) => addTool(t));
  const group = ToolGroupManager.createToolGroup(TOOLS);
  [WindowLevelTool, ZoomTool, PanTool, StackScrollTool].forEach((t) => group.addTool(t.toolName));
  group.addTool(LengthTool.toolName, {
    getTextLines: (data) => {
      const text = data.label;
      return text ? [text] : undefined;
    },
  });
  const bind = (tool, mouseButton) =>
    group.setToolActive(tool.toolName, { bindings: [{ mouseButton }] });
  bind(WindowLevelTool, MouseBindings.Primary);
  bind(PanTool, MouseBindings.Auxiliary);
  bind(ZoomTool, MouseBindings.Secondary);
  bind(StackScrollTool, MouseBindings.Wheel);
  group.setToolPassive(LengthTool.toolName);
  return group;
}

function describe(entry) {
  const { viewport, status } = entry;
  const images = viewport.getImageIds().length;
  if (!images) {
    status.textContent = "No image here: choose one below.";
    return;
  }
  const index = viewport.getCurrentImageIdIndex() + 1;
  const { voiRange } = viewport.getProperties();
  const width = voiRange ? Math.round(voiRange.upper - voiRange.lower) : "";
  const center = voiRange ? Math.round((voiRange.upper + voiRange.lower) / 2) : "";
  status.textContent = `Image ${index} of ${images} · window ${width} / level ${center}`;
}

// Which side of an image holds the chest wall, from its pixels: the breast is brighter than the
// air around it and touches the image's edge at the chest wall.
function chestWallOnRight(viewport) {
  const image = viewport.getCornerstoneImage && viewport.getCornerstoneImage();
  if (!image) return null;
  const pixels = image.getPixelData();
  const { rows, columns } = image;
  const strip = Math.max(1, Math.floor(columns / 10));
  let left = 0;
  let right = 0;
  for (let y = 0; y < rows; y += 1) {
    for (let x = 0; x < strip; x += 1) {
      left += pixels[y * columns + x];
      right += pixels[y * columns + columns - 1 - x];
    }
  }
  if (left === right) return null;
  const brighter = right > left;
  const inverted = image.photometricInterpretation === "MONOCHROME1";
  return inverted ? !brighter : brighter;
}

async function start(root) {
  const manifest = JSON.parse(document.getElementById(root.dataset.manifest).textContent);
  await coreInit();
  toolsInit();
  dicomImageLoader.init({ maxWebWorkers: 1, beforeSend: () => ({ Accept: FRAME_ACCEPT }) });
  const engine = new RenderingEngine(ENGINE);
  const group = setUpTools();
  const viewports = {};
  const panes = manifest.panes;
  const readout = root.querySelector("[data-measurement]");

  for (const pane of panes) {
    const viewportId = pane.viewport;
    const figure = root.querySelector(`[data-pane="${viewportId}"]`);
    const element = figure.querySelector(".viewport");
    element.oncontextmenu = (event) => event.preventDefault();
    engine.enableElement({ viewportId, type: Enums.ViewportType.STACK, element });
    group.addViewport(viewportId, ENGINE);
    const viewport = engine.getViewport(viewportId);
    const entry = {
      viewport,
      element,
      pane,
      status: figure.querySelector("[data-status]"),
      modality: "",
      flip: false,
      playing: false,
    };
    element.addEventListener(Enums.Events.IMAGE_RENDERED, () => {
      describe(entry);
      // The page's first picture of this pane (static/js/first-image.js) gives way to ours.
      element.querySelector("canvas[data-first-image]")?.remove();
    });
    viewports[viewportId] = entry;
  }
  // A prior pane follows its current pane's zoom and pan, and the other way round.
  for (const pane of panes.filter((p) => p.sync && viewports[p.sync])) {
    const sync = synchronizers.createZoomPanSynchronizer(`so-zoom-pan-${pane.viewport}`);
    sync.add({ renderingEngineId: ENGINE, viewportId: pane.sync });
    sync.add({ renderingEngineId: ENGINE, viewportId: pane.viewport });
  }

  const applyFlip = (entry) => {
    entry.viewport.setCamera({ flipHorizontal: entry.flip });
  };

  const showImages = async (entry, series, urls, modality) => {
    stopCine(entry);
    entry.modality = modality || "";
    entry.flip = false;
    if (!urls.length) {
      await entry.viewport.setStack([], 0).catch(() => undefined);
      describe(entry);
      entry.element.dataset.image = "";
      return;
    }
    await readSeries(series);
    await entry.viewport.setStack(
      urls.map((url) => `wadors:${url}`),
      0,
    );
    entry.element.dataset.image = urls[0];
    entry.viewport.render();
  };

  const showSeries = (entry, index) => {
    const series = manifest.series[index];
    return showImages(entry, series, series.images, series.modality);
  };

  // A mammogram's image in a view's pane, turned so that its chest wall faces the middle.
  const showView = async (entry, index) => {
    if (index === null || index === undefined || index === "") {
      await showImages(entry, null, [], "MG");
      return;
    }
    const view = manifest.views[index];
    await showImages(entry, manifest.series[view.series], [view.url], "MG");
    const side = entry.pane.view[0];
    let wallRight = null;
    if (view.toward === "A" || view.toward === "P") wallRight = view.toward === "P";
    else wallRight = chestWallOnRight(entry.viewport);
    if (wallRight !== null) entry.flip = side === "R" ? !wallRight : wallRight;
    applyFlip(entry);
    entry.element.dataset.flipped = String(entry.flip);
    entry.viewport.render();
  };

  await Promise.all(
    panes.map((pane) => {
      const entry = viewports[pane.viewport];
      if (manifest.mammo) return showView(entry, pane.image);
      return showSeries(entry, pane.series);
    }),
  );

  // Window presets for the main pane's modality (the select lists them).
  const presetSelect = root.querySelector("select[data-action=preset]");
  const fillPresets = () => {
    if (!presetSelect) return;
    const first = viewports[panes[0].viewport];
    const options = [["default", "Default (from the image)"], ["auto", "Auto (full range)"]];
    (PRESETS[first.modality] || []).forEach(([value, label, w, l]) =>
      options.push([value, `${label} (W ${w} / L ${l})`]),
    );
    presetSelect.replaceChildren(
      ...options.map(([value, label]) => new Option(label, value)),
    );
  };
  fillPresets();

  const applyPreset = (entry, name) => {
    const { viewport } = entry;
    if (!viewport.getImageIds().length) return;
    if (name === "default") {
      viewport.resetProperties();
      applyFlip(entry);
    } else if (name === "auto") {
      const image = viewport.getCornerstoneImage();
      const slope = image.slope || 1;
      const intercept = image.intercept || 0;
      const low = image.minPixelValue * slope + intercept;
      const high = image.maxPixelValue * slope + intercept;
      viewport.setProperties({ voiRange: { lower: low, upper: Math.max(high, low + 1) } });
    } else {
      const preset = (PRESETS[entry.modality] || []).find(([value]) => value === name);
      if (!preset) return;
      const [, , width, level] = preset;
      viewport.setProperties({ voiRange: { lower: level - width / 2, upper: level + width / 2 } });
    }
    viewport.render();
  };

  function stopCine(entry) {
    if (entry.playing) toolUtils.cine.stopClip(entry.element);
    entry.playing = false;
  }
  const cineButton = root.querySelector("button[data-action=cine]");
  const setCine = (play) => {
    Object.values(viewports).forEach((entry) => {
      if (play && entry.viewport.getImageIds().length > 1) {
        toolUtils.cine.playClip(entry.element, { framesPerSecond: 8, loop: true });
        entry.playing = true;
      } else stopCine(entry);
    });
    if (cineButton) {
      cineButton.setAttribute("aria-pressed", String(play));
      cineButton.textContent = play ? "Pause slices" : "Play slices";
    }
  };

  const measureButton = root.querySelector("button[data-action=measure]");
  const setMeasuring = (on) => {
    if (on) {
      group.setToolPassive(WindowLevelTool.toolName);
      group.setToolActive(LengthTool.toolName, {
        bindings: [{ mouseButton: MouseBindings.Primary }],
      });
    } else {
      group.setToolPassive(LengthTool.toolName);
      group.setToolActive(WindowLevelTool.toolName, {
        bindings: [{ mouseButton: MouseBindings.Primary }],
      });
    }
    if (measureButton) measureButton.setAttribute("aria-pressed", String(on));
  };
  const measured = (event) => {
    const { annotation } = event.detail;
    if (!annotation || annotation.metadata.toolName !== LengthTool.toolName) return;
    const text = lengthOf(annotation);
    if (!text) return;
    annotation.data.label = text;
    if (readout) readout.textContent = `Length: ${text}`;
  };
  eventTarget.addEventListener(ToolEnums.Events.ANNOTATION_COMPLETED, measured);
  eventTarget.addEventListener(ToolEnums.Events.ANNOTATION_MODIFIED, measured);

  const step = async (entry, by) => {
    const { viewport } = entry;
    const last = viewport.getImageIds().length - 1;
    if (last < 0) return;
    const target = Math.min(last, Math.max(0, viewport.getCurrentImageIdIndex() + by));
    await viewport.setImageIdIndex(target);
  };
  const zoom = (entry, factor) => {
    entry.viewport.setZoom(entry.viewport.getZoom() * factor);
    entry.viewport.render();
  };

  root.addEventListener("change", async (event) => {
    const select = event.target.closest("select[data-action]");
    if (!select) return;
    const action = select.dataset.action;
    if (action === "preset") {
      Object.values(viewports).forEach((entry) => applyPreset(entry, select.value));
    } else if (action === "place") {
      const entry = viewports[select.dataset.viewport];
      await showView(entry, select.value === "" ? null : Number(select.value));
    } else if (action === "prior-series") {
      await showSeries(viewports[select.dataset.viewport], Number(select.value));
    }
  });

  root.addEventListener("keydown", async (event) => {
    const element = event.target.closest(".viewport");
    if (!element) return;
    const entry = Object.values(viewports).find((e) => e.element === element);
    if (!entry) return;
    const keys = {
      ArrowDown: () => step(entry, 1),
      ArrowRight: () => step(entry, 1),
      PageDown: () => step(entry, 1),
      ArrowUp: () => step(entry, -1),
      ArrowLeft: () => step(entry, -1),
      PageUp: () => step(entry, -1),
      "+": () => zoom(entry, 1.25),
      "=": () => zoom(entry, 1.25),
      "-": () => zoom(entry, 0.8),
    };
    if (!keys[event.key]) return;
    event.preventDefault();
    await keys[event.key]();
  });

  root.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    if (action === "series") {
      const main = viewports[panes[0].viewport];
      const chosen = manifest.series[Number(button.dataset.series)];
      await showSeries(main, Number(button.dataset.series));
      // The prior pane follows with its series most like the one chosen.
      const prior = panes.find((p) => p.sync === panes[0].viewport && !manifest.mammo);
      if (prior) {
        const name = (label) => label.split(" ").slice(1).join(" ");
        const candidates = manifest.series
          .map((series, index) => ({ series, index }))
          .filter(({ series }) => series.study === prior.study);
        const match =
          candidates.find(({ series }) => name(series.label) === name(chosen.label)) ||
          candidates.find(({ series }) => series.modality === chosen.modality);
        if (match) {
          await showSeries(viewports[prior.viewport], match.index);
          const select = root.querySelector(`select[data-viewport="${prior.viewport}"]`);
          if (select) select.value = String(match.index);
        }
      }
      root.querySelectorAll("button[data-action=series]").forEach((b) =>
        b.setAttribute("aria-pressed", String(b === button)),
      );
      fillPresets();
      return;
    }
    if (action === "invert") {
      const on = button.getAttribute("aria-pressed") !== "true";
      Object.values(viewports).forEach(({ viewport }) => {
        if (!viewport.getImageIds().length) return;
        viewport.setProperties({ invert: on });
        viewport.render();
      });
      button.setAttribute("aria-pressed", String(on));
      return;
    }
    if (action === "cine") {
      setCine(button.getAttribute("aria-pressed") !== "true");
      return;
    }
    if (action === "measure") {
      setMeasuring(button.getAttribute("aria-pressed") !== "true");
      return;
    }
    const entry = viewports[button.dataset.viewport || panes[0].viewport];
    const { viewport } = entry;
    if (!viewport.getImageIds().length) return;
    if (action === "next" || action === "previous") {
      await step(entry, action === "next" ? 1 : -1);
    } else if (action === "zoom-in" || action === "zoom-out") {
      zoom(entry, action === "zoom-in" ? 1.25 : 0.8);
    } else if (action === "wider" || action === "narrower") {
      const { voiRange } = viewport.getProperties();
      const center = (voiRange.upper + voiRange.lower) / 2;
      const half = ((voiRange.upper - voiRange.lower) / 2) * (action === "wider" ? 1.25 : 0.8);
      viewport.setProperties({ voiRange: { lower: center - half, upper: center + half } });
    } else if (action === "reset") {
      viewport.resetCamera();
      viewport.resetProperties();
      applyFlip(entry);
    }
    viewport.render();
  });

  // For tests and the console: what a pane shows at its centre, and where an image point is.
  const probe = (viewportId, at = [0.5, 0.5]) => {
    const { viewport, element } = viewports[viewportId];
    const canvas = element.querySelector("canvas");
    const context = canvas.getContext("2d");
    const x = Math.floor(canvas.width * at[0]);
    const y = Math.floor(canvas.height * at[1]);
    const [red, green, blue] = context.getImageData(x, y, 1, 1).data;
    const all = context.getImageData(0, 0, canvas.width, canvas.height).data;
    const levels = new Set();
    const halves = [0, 0];
    for (let i = 0; i < all.length; i += 4) {
      levels.add(all[i]);
      halves[(i / 4) % canvas.width < canvas.width / 2 ? 0 : 1] += all[i];
    }
    const ratio = canvas.width / canvas.clientWidth;
    const world = viewport.canvasToWorld([x / ratio, y / ratio]);
    const [column, row] = csUtils.worldToImageCoords(viewport.getCurrentImageId(), world);
    const { voiRange, invert } = viewport.getProperties();
    return {
      rgb: [red, green, blue],
      column,
      row,
      lower: voiRange.lower,
      upper: voiRange.upper,
      invert: Boolean(invert),
      levels: levels.size,
      halves,
    };
  };
  const imageToPage = (viewportId, point) => {
    const { viewport, element } = viewports[viewportId];
    const world = csUtils.imageToWorldCoords(viewport.getCurrentImageId(), point);
    const [x, y] = viewport.worldToCanvas(world);
    const rect = element.querySelector("canvas").getBoundingClientRect();
    return [rect.left + x, rect.top + y];
  };

  root.querySelectorAll("canvas[data-first-image]").forEach((canvas) => canvas.remove());
  root.dataset.ready = "true";
  window.soViewer = { engine, viewports, probe, imageToPage };
}

document.querySelectorAll("[data-study-viewer]").forEach((root) => {
  start(root).catch((error) => {
    root.dataset.error = String(error && error.message ? error.message : error);
    const note = root.querySelector("[data-viewer-error]");
    if (note) note.hidden = false;
    console.error(error);
  });
});
