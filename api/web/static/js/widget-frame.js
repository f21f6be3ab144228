// The widget in an iframe (/widget/frame). The embedding page hands the key over with
//   frame.contentWindow.postMessage({type: "zhiku:key", key: "zk_…", lang: "en"}, ZHIKU_ORIGIN)
// once the frame says {type: "zhiku:ready"}. Only the parent window is listened to, and the
// origin the browser reports for it (event.origin, which no page can forge) goes with every
// question in X-Zhiku-Embedder-Origin: the server refuses the key unless it is bound to that
// origin. The key never appears in an address, a log or the Referer (docs/widget.md).

const root = document.getElementById("zhiku-frame");
const status = document.getElementById("zhiku-frame-status");
const words = JSON.parse(document.getElementById("zhiku-frame-words").textContent);
let mounted = false;

if (window.parent === window) {
  status.textContent = words.widget_frame_alone;
} else {
  window.addEventListener("message", (event) => {
    if (mounted || event.source !== window.parent) return;
    const data = event.data;
    if (!data || data.type !== "zhiku:key" || typeof data.key !== "string") return;
    if (typeof event.origin !== "string" || !/^https?:\/\//.test(event.origin)) return;
    mounted = true;
    status.remove();
    window.ZhikuWidget.mount(root, {
      key: data.key,
      lang: typeof data.lang === "string" ? data.lang : root.dataset.lang,
      inline: true,
      embedder: event.origin,
    });
  });
  // Nothing secret: tells the parent it may send the key now.
  window.parent.postMessage({ type: "zhiku:ready" }, "*");
}
