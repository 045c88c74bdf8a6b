// The study viewer: Cornerstone3D stack viewports over the case's DICOM files (wadouri).
// Built into static/vendor/cornerstone/ by `npm ci && npm run build` in this folder; no CDN.
//
// Mouse: wheel scrolls through a series, left-drag sets window/level, right-drag zooms,
// middle-drag pans. The buttons do the same from the keyboard. Mammograms show the four
// standard views (RCC, LCC, RMLO, LMLO) side by side.
import { init as coreInit, RenderingEngine, Enums } from "@cornerstonejs/core";
import {
  init as toolsInit,
  addTool,
  ToolGroupManager,
  StackScrollTool,
  WindowLevelTool,
  ZoomTool,
  PanTool,
  Enums as ToolEnums,
} from "@cornerstonejs/tools";
import dicomImageLoader from "@cornerstonejs/dicom-image-loader";

const { MouseBindings } = ToolEnums;
const ENGINE = "so-viewer";
const TOOLS = "so-tools";

function setUpTools() {
  [StackScrollTool, WindowLevelTool, ZoomTool, PanTool].forEach((tool) => addTool(tool));
  const group = ToolGroupManager.createToolGroup(TOOLS);
  [WindowLevelTool, ZoomTool, PanTool, StackScrollTool].forEach((t) => group.addTool(t.toolName));
  const bind = (tool, mouseButton) =>
    group.setToolActive(tool.toolName, { bindings: [{ mouseButton }] });
  bind(WindowLevelTool, MouseBindings.Primary);
  bind(PanTool, MouseBindings.Auxiliary);
  bind(ZoomTool, MouseBindings.Secondary);
  bind(StackScrollTool, MouseBindings.Wheel);
  return group;
}

function describe(viewport, status) {
  const images = viewport.getImageIds().length;
  const index = viewport.getCurrentImageIdIndex() + 1;
  const { voiRange } = viewport.getProperties();
  const width = voiRange ? Math.round(voiRange.upper - voiRange.lower) : "";
  const center = voiRange ? Math.round((voiRange.upper + voiRange.lower) / 2) : "";
  status.textContent = `Image ${index} of ${images} · window ${width} / level ${center}`;
}

async function start(root) {
  const manifest = JSON.parse(document.getElementById(root.dataset.manifest).textContent);
  await coreInit();
  toolsInit();
  dicomImageLoader.init({ maxWebWorkers: 1 });
  const engine = new RenderingEngine(ENGINE);
  const group = setUpTools();
  const viewports = {};

  for (const pane of root.querySelectorAll("[data-pane]")) {
    const viewportId = pane.dataset.pane;
    const element = pane.querySelector(".viewport");
    element.oncontextmenu = (event) => event.preventDefault();
    engine.enableElement({ viewportId, type: Enums.ViewportType.STACK, element });
    group.addViewport(viewportId, ENGINE);
    const viewport = engine.getViewport(viewportId);
    const status = pane.querySelector("[data-status]");
    element.addEventListener(Enums.Events.IMAGE_RENDERED, () => describe(viewport, status));
    viewports[viewportId] = { viewport, status };
  }

  const show = async (viewportId, series) => {
    const { viewport } = viewports[viewportId];
    await viewport.setStack(series.images.map((url) => `wadouri:${url}`), 0);
    viewport.render();
  };
  const panes = manifest.panes;
  await Promise.all(panes.map((p) => show(p.viewport, manifest.series[p.series])));

  root.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const { viewport } = viewports[button.dataset.viewport || panes[0].viewport];
    const action = button.dataset.action;
    if (action === "series") {
      await show(panes[0].viewport, manifest.series[button.dataset.series]);
      root.querySelectorAll("button[data-action=series]").forEach((b) =>
        b.setAttribute("aria-pressed", String(b === button)),
      );
      return;
    }
    if (action === "next" || action === "previous") {
      const last = viewport.getImageIds().length - 1;
      const step = action === "next" ? 1 : -1;
      const target = Math.min(last, Math.max(0, viewport.getCurrentImageIdIndex() + step));
      await viewport.setImageIdIndex(target);
    } else if (action === "zoom-in" || action === "zoom-out") {
      viewport.setZoom(viewport.getZoom() * (action === "zoom-in" ? 1.25 : 0.8));
    } else if (action === "wider" || action === "narrower") {
      const { voiRange } = viewport.getProperties();
      const center = (voiRange.upper + voiRange.lower) / 2;
      const half = ((voiRange.upper - voiRange.lower) / 2) * (action === "wider" ? 1.25 : 0.8);
      viewport.setProperties({ voiRange: { lower: center - half, upper: center + half } });
    } else if (action === "reset") {
      viewport.resetCamera();
      viewport.resetProperties();
    }
    viewport.render();
  });

  root.dataset.ready = "true";
  window.soViewer = { engine, viewports };
}

document.querySelectorAll("[data-study-viewer]").forEach((root) => {
  start(root).catch((error) => {
    root.dataset.error = String(error && error.message ? error.message : error);
    const note = root.querySelector("[data-viewer-error]");
    if (note) note.hidden = false;
    console.error(error);
  });
});
