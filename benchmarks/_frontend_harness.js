// In-page harness of benchmarks/frontend.py, added to every page before the page's own scripts run.
//
// It sees from outside each library when a frame reaches the page: regl-scatterplot (bare, and inside the
// widget) renders off screen and copies every frame onto the visible canvas with drawImage ("blit"); plotly
// draws with WebGL straight into canvases of the page ("gl"). It drives the camera with the DOM events a mouse
// makes, one step per animation frame, and times updates until the frame that shows them.
(() => {
  const B = {
    blits: 0,
    lastBlit: 0,
    blitTargets: new Set(),
    glDraws: 0,
    lastGl: 0,
    contexts: [],
    errors: [],
    result: undefined,
    buttons: 0,
    fetchMs: 0,
  };
  window.__bench = B;
  window.addEventListener("error", (e) => B.errors.push(`error: ${e.message}`));
  window.addEventListener("unhandledrejection", (e) =>
    B.errors.push(`unhandled rejection: ${e.reason?.stack ?? e.reason}`),
  );

  const drawImage = CanvasRenderingContext2D.prototype.drawImage;
  CanvasRenderingContext2D.prototype.drawImage = function (image, ...rest) {
    const out = drawImage.call(this, image, ...rest);
    if (image instanceof HTMLCanvasElement && this.canvas.isConnected) {
      B.blits++;
      B.lastBlit = performance.now();
      B.blitTargets.add(this.canvas);
    }
    return out;
  };

  const getContext = HTMLCanvasElement.prototype.getContext;
  HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
    const ctx = getContext.call(this, kind, ...rest);
    if (ctx && /webgl/.test(String(kind)) && !B.contexts.includes(ctx)) B.contexts.push(ctx);
    return ctx;
  };

  // Only draws into canvases on the page count: regl-scatterplot's off-screen canvas is not one.
  const counted = (canvas) => {
    if (canvas.isConnected) {
      B.glDraws++;
      B.lastGl = performance.now();
    }
  };
  const wrapDraws = (proto, names) => {
    for (const name of names) {
      const f = proto[name];
      if (typeof f !== "function") continue;
      proto[name] = function (...args) {
        const out = f.apply(this, args);
        counted(this.canvas);
        return out;
      };
    }
  };
  wrapDraws(WebGLRenderingContext.prototype, ["drawArrays", "drawElements"]);
  wrapDraws(WebGL2RenderingContext.prototype, [
    "drawArrays",
    "drawElements",
    "drawArraysInstanced",
    "drawElementsInstanced",
    "drawRangeElements",
  ]);
  // WebGL1 instancing (regl's) goes through an extension object.
  for (const proto of [WebGLRenderingContext.prototype, WebGL2RenderingContext.prototype]) {
    const getExtension = proto.getExtension;
    proto.getExtension = function (name) {
      const ext = getExtension.call(this, name);
      if (ext && String(name).toLowerCase() === "angle_instanced_arrays" && !ext.__benchWrapped) {
        const canvas = this.canvas;
        ext.__benchWrapped = true;
        for (const m of ["drawArraysInstancedANGLE", "drawElementsInstancedANGLE"]) {
          const f = ext[m].bind(ext);
          ext[m] = (...args) => {
            const out = f(...args);
            counted(canvas);
            return out;
          };
        }
      }
      return ext;
    };
  }

  const gl = () => window.benchLib?.signal === "gl";
  const count = () => (gl() ? B.glDraws : B.blits);
  const last = () => (gl() ? B.lastGl : B.lastBlit);

  // Wait until the GPU has finished what was drawn: WebGL calls are queued to another process, and finish() is
  // only a flush in Chromium, so read a pixel back. A blit onto a 2-D canvas has already read the frame back.
  const px = new Uint8Array(4);
  B.sync = () => {
    const t0 = performance.now();
    for (const ctx of B.contexts) {
      if (!ctx.canvas.isConnected || ctx.isContextLost()) continue;
      const fb = ctx.getParameter(ctx.FRAMEBUFFER_BINDING);
      ctx.bindFramebuffer(ctx.FRAMEBUFFER, null);
      ctx.readPixels(0, 0, 1, 1, ctx.RGBA, ctx.UNSIGNED_BYTE, px);
      ctx.bindFramebuffer(ctx.FRAMEBUFFER, fb);
    }
    for (const c of B.blitTargets) if (c.isConnected) c.getContext("2d").getImageData(0, 0, 1, 1);
    return performance.now() - t0;
  };

  const frame = () => new Promise((r) => requestAnimationFrame(r));
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  B.frame = frame;
  B.until = async (pred, timeoutMs, what) => {
    const end = performance.now() + timeoutMs;
    while (!pred()) {
      if (performance.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
      await frame();
    }
  };
  const withTimeout = (promise, ms, what) =>
    Promise.race([
      promise,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)),
    ]);

  // The events a mouse makes, at a point given as fractions of the plot's box, sent to the element there.
  function fire(ev, box) {
    const x = box.left + ev.fx * box.width;
    const y = box.top + ev.fy * box.height;
    const target = document.elementFromPoint(x, y) ?? document.body;
    const base = { bubbles: true, cancelable: true, composed: true, view: window, clientX: x, clientY: y };
    const pointer = (type, buttons) =>
      target.dispatchEvent(
        new PointerEvent(type, {
          ...base,
          button: type === "pointermove" ? -1 : 0,
          buttons,
          pointerId: 1,
          pointerType: "mouse",
          isPrimary: true,
        }),
      );
    const mouse = (type, buttons) => target.dispatchEvent(new MouseEvent(type, { ...base, button: 0, buttons }));
    if (ev.kind === "down") {
      B.buttons = 1;
      pointer("pointerdown", 1);
      mouse("mousedown", 1);
    } else if (ev.kind === "move") {
      pointer("pointermove", B.buttons);
      mouse("mousemove", B.buttons);
    } else if (ev.kind === "up") {
      B.buttons = 0;
      pointer("pointerup", 0);
      mouse("mouseup", 0);
    } else if (ev.kind === "wheel") {
      target.dispatchEvent(new WheelEvent("wheel", { ...base, deltaY: ev.dy, deltaMode: 0 }));
    }
  }

  // One phase: its steps, each sent in an animation frame once the previous one has been drawn.
  function runSteps(steps, box, end, stepTimeoutMs, out) {
    return new Promise((resolve, reject) => {
      let i = 0;
      let pending = false;
      let before = 0;
      let sent = 0;
      let first = null;
      const tick = () => {
        if (pending) {
          if (count() === before) {
            if (performance.now() - sent > stepTimeoutMs) {
              reject(new Error(`camera step ${i} not drawn within ${stepTimeoutMs} ms`));
              return;
            }
            requestAnimationFrame(tick);
            return;
          }
          out.frameMs.push(last() - sent);
          out.steps++;
          pending = false;
        }
        if (i >= steps.length || performance.now() > end) {
          if (i < steps.length) out.capped = true;
          resolve(first);
          return;
        }
        before = count();
        sent = performance.now();
        first ??= sent;
        fire(steps[i++], box);
        pending = true;
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
  }

  B.jobs = {
    async init(arg) {
      const t0 = performance.now();
      await window.benchLib.init(arg);
      const syncMs = B.sync();
      const initMs = performance.now() - t0;
      // first draw: from the data in page memory until it is drawn
      return { initMs, fetchMs: B.fetchMs, firstDrawMs: initMs - B.fetchMs, syncMs, frames: count() };
    },
    async path({ phases, capMs, stepTimeoutMs, pauseMs }) {
      const box = window.benchLib.box();
      const out = { steps: 0, elapsedMs: 0, frameMs: [], capped: false, phaseSteps: [], phaseMs: [] };
      for (const ph of phases) {
        // Untimed lead-in (e.g. the press and a first move past a drag threshold).
        for (const ev of ph.pre) {
          fire(ev, box);
          await frame();
          await frame();
        }
        await sleep(pauseMs);
        const stepsBefore = out.steps;
        // each phase gets its share of the cap, so a slow page still pans and zooms
        const end = performance.now() + capMs / phases.length;
        const first = await runSteps(ph.steps, box, end, stepTimeoutMs, out);
        let ms = 0;
        if (first !== null && out.steps > stepsBefore) ms = last() + B.sync() - first;
        out.elapsedMs += ms;
        out.phaseSteps.push(out.steps - stepsBefore);
        out.phaseMs.push(ms);
        for (const ev of ph.post) {
          fire(ev, box);
          await frame();
        }
        // plotly replots once a gesture has ended (after a wheel pause, on mouseup): let that pass
        await sleep(pauseMs);
      }
      out.fps = out.elapsedMs > 0 ? out.steps / (out.elapsedMs / 1000) : 0;
      return out;
    },
    async updates({ count: n, capMs, settleMs, timeoutMs }) {
      await sleep(settleMs);
      await frame();
      await frame();
      const ms = [];
      const end = performance.now() + capMs;
      for (let i = 0; i < n && (i === 0 || performance.now() < end); i++) {
        const before = count();
        const t0 = performance.now();
        await withTimeout(window.benchLib.update(i), timeoutMs, `update ${i}`);
        const syncMs = B.sync();
        if (count() === before || last() < t0) throw new Error(`update ${i} drew no frame`);
        ms.push(last() + syncMs - t0);
        await sleep(200);
        await frame();
      }
      return { ms };
    },
  };

  B.start = (name, arg) => {
    B.result = undefined;
    Promise.resolve()
      .then(() => B.jobs[name](arg))
      .then(
        (value) => {
          B.result = { ok: true, value };
        },
        (err) => {
          B.result = { ok: false, error: String(err?.stack ?? err) };
        },
      );
  };
})();
