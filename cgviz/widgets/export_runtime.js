// The page runtime of cgviz.widgets.export: builds the NGL stages and plotly figures of an
// exported HTML file from the JSON payload the exporter writes beside it (offline).
(function () {
  "use strict";
  var NGL = window.__cgvizNGL;
  try { delete window.__cgvizNGL; } catch (e) { window.__cgvizNGL = undefined; }
  var data = JSON.parse(document.getElementById("cgviz-data").textContent);
  if (data.views.length && !(NGL && NGL.Stage)) {
    window.cgvizExportFailed = "NGL could not be loaded from nglview's bundle";
    console.error("cgviz export: " + window.cgvizExportFailed);
    data.views = [];
  }
  var api = {views: [], figures: [], notes: [], setFrame: null};
  window.cgvizExport = api;

  function note(view, text) {
    view.notes.push(text);
    api.notes.push(view.id + ": " + text);
  }

  function bytesFromBase64(text) {
    var binary = atob(text);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  function callMethod(view, obj, method, args, what) {
    if (!obj || typeof obj[method] !== "function") {
      note(view, "skipped " + what + "." + method + " (not available here)");
      return undefined;
    }
    try {
      return obj[method].apply(obj, args);
    } catch (err) {
      note(view, "skipped " + what + "." + method + " (" + err + ")");
      return undefined;
    }
  }

  function loadFile(view, msg) {
    if (msg.skip) { view.comps.push(null); return Promise.resolve(); }
    var spec = msg.args[0];
    var params = Object.assign({}, msg.kwargs || {});
    var blob = spec.binary
      ? new Blob([bytesFromBase64(spec.data)], {type: "application/octet-binary"})
      : new Blob([spec.data], {type: "text/plain"});
    return view.stage.loadFile(blob, params).then(function (comp) {
      view.comps.push(comp || null);
    }, function (err) {
      view.comps.push(null);
      note(view, "a component could not be read (" + err + ")");
    });
  }

  function addShape(view, name, shapes) {
    var shape = new NGL.Shape(name);
    var adders = {sphere: "addSphere", ellipsoid: "addEllipsoid", cylinder: "addCylinder",
                  cone: "addCone", mesh: "addMesh", arrow: "addArrow", text: "addText",
                  label: "addText", tetrahedron: "addTetrahedron", octahedron: "addOctahedron",
                  torus: "addTorus", box: "addBox"};
    (shapes || []).forEach(function (item) {
      var method = adders[item[0]];
      if (method && typeof shape[method] === "function") shape[method].apply(shape, item.slice(1));
    });
    var comp = view.stage.addComponentFromObject(shape);
    if (comp) comp.addRepresentation("buffer", {});
    view.comps.push(comp || null);
  }

  function addBuffer(view, kind, params) {
    var classes = {arrow: "ArrowBuffer", box: "BoxBuffer", cone: "ConeBuffer",
                   cylinder: "CylinderBuffer", ellipsoid: "EllipsoidBuffer",
                   octahedron: "OctahedronBuffer", sphere: "SphereBuffer", text: "TextBuffer",
                   tetrahedron: "TetrahedronBuffer", torus: "TorusBuffer"};
    var Buffer = NGL[classes[kind]];
    if (!Buffer) { view.comps.push(null); note(view, "skipped a " + kind + " buffer"); return; }
    var arrays = {};
    Object.keys(params || {}).forEach(function (key) {
      arrays[key] = new Float32Array(params[key]);
    });
    var shape = new NGL.Shape("shape");
    shape.addBuffer(new Buffer(arrays));
    var comp = view.stage.addComponentFromObject(shape);
    if (comp) comp.addRepresentation("buffer", {});
    view.comps.push(comp || null);
  }

  function widgetMethod(view, method, args) {
    var comp;
    switch (method) {
      case "addShape": return addShape(view, args[0], args[1]);
      case "addBuffer": return addBuffer(view, args[0], args[1]);
      case "setParameters":
        return callMethod(view, view.stage, "setParameters", [args[0]], "stage");
      case "set_camera_orientation":
        if (args[0] && args[0].length) view.camera = args[0];
        return undefined;
      case "removeRepresentation":
        comp = view.comps[args[0]];
        if (comp && comp.reprList[args[1]]) comp.removeRepresentation(comp.reprList[args[1]]);
        return undefined;
      case "removeRepresentationsByName":
        comp = view.comps[args[1]];
        if (comp) comp.reprList.slice().forEach(function (r) {
          if (r.name === args[0]) comp.removeRepresentation(r);
        });
        return undefined;
      case "updateRepresentationsByName":
        comp = view.comps[args[1]];
        if (comp) comp.reprList.forEach(function (r) {
          if (r.name === args[0]) r.setParameters(args[2] || {});
        });
        return undefined;
      default:
        note(view, "skipped Widget." + method);
        return undefined;
    }
  }

  function replay(view, msg) {
    var method = msg.methodName;
    var kwargs = Object.assign({}, msg.kwargs || {});
    if (method === "addRepresentation" && msg.reconstruc_color_scheme) {
      kwargs.color = NGL.ColormakerRegistry.addSelectionScheme(kwargs.color, kwargs.color_label);
      delete kwargs.color_label;
    }
    var args = (msg.args || []).slice();
    args.push(kwargs);
    var comp;
    switch (msg.target) {
      case "Stage":
        if (method === "loadFile") return loadFile(view, msg);
        if (method === "removeComponent") {
          comp = view.comps.splice(msg.args[0], 1)[0];
          if (comp) view.stage.removeComponent(comp);
          return undefined;
        }
        return callMethod(view, view.stage, method, args, "stage");
      case "Viewer": return callMethod(view, view.stage.viewer, method, args, "viewer");
      case "viewerControls":
        return callMethod(view, view.stage.viewerControls, method, args, "viewerControls");
      case "compList":
      case "component":
        comp = view.comps[msg.component_index];
        if (!comp) return undefined;
        return callMethod(view, comp, method, args, "component");
      case "Representation":
        comp = view.comps[msg.component_index];
        var repr = comp ? comp.reprList[msg.repr_index] : null;
        if (!repr) return undefined;
        return callMethod(view, repr, method, args, "representation");
      case "Widget": return widgetMethod(view, method, args);
      default:
        note(view, "skipped " + msg.target + "." + method);
        return undefined;
    }
  }

  function frameLabel(view) {
    var f = view.frames;
    var shown = f.frames[view.position];
    return "frame " + shown + " / " + (f.n_frames - 1);
  }

  function setFrame(viewIndex, position) {
    var view = api.views[viewIndex];
    if (!view || !view.frames) return;
    var f = view.frames;
    position = Math.max(0, Math.min(f.frames.length - 1, Math.round(position)));
    view.position = position;
    f.trajectories.forEach(function (t) {
      var comp = view.comps[t.component];
      if (!comp || !comp.structure) return;
      var k = Math.min(position, t.count - 1);
      var size = t.n_atoms * 3;
      comp.structure.updatePosition(t.coords.subarray(k * size, (k + 1) * size));
      comp.updateRepresentations({position: true});
    });
    if (view.slider) view.slider.value = String(position);
    if (view.label) view.label.textContent = frameLabel(view);
    if (view.driver) moveMarkers(position);
  }
  api.setFrame = setFrame;

  function moveMarkers(position) {
    api.figures.forEach(function (fig) {
      var m = fig.markers;
      if (!m || !fig.plotted || typeof Plotly === "undefined") return;
      var x = m.x[position], y = m.y[position];
      m.traces.forEach(function (t) {
        var update = t.kind === "point"
          ? {x: [[x]], y: [[y]]}
          : {x: [Array(t.n).fill(x)]};
        Plotly.restyle(fig.div, update, [t.index]);
      });
      if (m.shapes.length) {
        var relayout = {};
        m.shapes.forEach(function (s) {
          relayout["shapes[" + s + "].x0"] = x;
          relayout["shapes[" + s + "].x1"] = x;
        });
        Plotly.relayout(fig.div, relayout);
      }
    });
  }

  function buildControls(view, viewIndex) {
    var f = view.frames;
    var box = document.createElement("div");
    box.className = "cgviz-controls";
    var play = document.createElement("button");
    play.type = "button";
    play.className = "cgviz-play";
    play.textContent = "\u25B6";
    play.title = "Play / pause";
    var slider = document.createElement("input");
    slider.type = "range";
    slider.className = "cgviz-frame-slider";
    slider.min = "0";
    slider.max = String(f.frames.length - 1);
    slider.step = "1";
    slider.value = String(view.position);
    var label = document.createElement("span");
    label.className = "cgviz-frame-label";
    box.appendChild(play);
    box.appendChild(slider);
    box.appendChild(label);
    view.el.appendChild(box);
    if (f.stride > 1) {
      var text = document.createElement("div");
      text.className = "cgviz-note";
      text.textContent = "Showing 1 frame in every " + f.stride + " (" + f.frames.length +
        " of " + f.n_frames + ") to keep this file small.";
      view.el.appendChild(text);
    }
    view.slider = slider;
    view.label = label;
    slider.addEventListener("input", function () { setFrame(viewIndex, Number(slider.value)); });
    var timer = null;
    play.addEventListener("click", function () {
      if (timer !== null) {
        clearInterval(timer); timer = null; play.textContent = "\u25B6"; return;
      }
      play.textContent = "\u275A\u275A";
      timer = setInterval(function () {
        setFrame(viewIndex, (view.position + 1) % f.frames.length);
      }, 100);
    });
  }

  function setupView(spec, viewIndex) {
    var el = document.getElementById(spec.id);
    var stageEl = el.querySelector(".cgviz-stage");
    var stage = new NGL.Stage(stageEl, spec.stageParameters || {});
    var view = {id: spec.id, el: el, stage: stage, comps: [], notes: [],
                frames: spec.frames, position: 0, camera: spec.camera, driver: false};
    spec.notes.forEach(function (text) { note(view, text); });
    api.views.push(view);
    if (view.frames) {
      view.frames.trajectories.forEach(function (t) {
        t.coords = new Float32Array(bytesFromBase64(t.data).buffer);
        t.data = null;
      });
      view.position = view.frames.initial;
    }
    var chain = Promise.resolve();
    spec.messages.forEach(function (msg) {
      chain = chain.then(function () { return replay(view, msg); }).catch(function (err) {
        note(view, "skipped " + msg.target + "." + msg.methodName + " (" + err + ")");
      });
    });
    return chain.then(function () {
      if (view.frames && view.frames.frames.length > 1) {
        buildControls(view, viewIndex);
        setFrame(viewIndex, view.position);
      }
      if (view.camera) stage.viewerControls.orient(view.camera);
      else stage.autoView();
      if (!view.comps.length) {
        var empty = document.createElement("div");
        empty.className = "cgviz-note";
        empty.textContent = "This 3D view has no components.";
        el.appendChild(empty);
      }
      if (view.notes.length) {
        var details = document.createElement("div");
        details.className = "cgviz-note";
        details.textContent = "Not shown: " + view.notes.join("; ");
        el.appendChild(details);
      }
      window.addEventListener("resize", function () { stage.handleResize(); });
      stage.handleResize();
      stage.viewer.requestRender();
    });
  }

  function setupFigure(spec) {
    var div = document.getElementById(spec.id);
    var fig = {id: spec.id, div: div, markers: spec.markers, plotted: false};
    api.figures.push(fig);
    if (typeof Plotly === "undefined") return Promise.resolve();
    var config = {responsive: true, displaylogo: false};
    return Plotly.newPlot(div, spec.figure.data || [], spec.figure.layout || {}, config)
      .then(function () { fig.plotted = true; });
  }

  var pending = [];
  data.views.forEach(function (spec, i) { pending.push(setupView(spec, i)); });
  data.figures.forEach(function (spec) { pending.push(setupFigure(spec)); });
  Promise.all(pending).then(function () {
    for (var i = 0; i < api.views.length; i++) {
      var view = api.views[i];
      if (view.frames && view.frames.frames.length > 1) {
        view.driver = true;
        moveMarkers(view.position);
        break;
      }
    }
    requestAnimationFrame(function () {
      requestAnimationFrame(function () { window.cgvizExportReady = true; });
    });
  }, function (err) {
    console.error("cgviz export: " + err);
    window.cgvizExportFailed = String(err);
  });
})();
