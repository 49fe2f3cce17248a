// Shows what the twin is saying, sentence by sentence; fades out after each caption's end.
"use strict";
(() => {
  const box = document.getElementById("caption");
  const LINGER_MS = 1200; // a caption stays a little after its speech ends, for slow readers
  let timer = 0;
  let current = "";

  function hide() {
    box.classList.remove("shown");
    current = "";
  }

  function show(caption) {
    current = caption.turn_id || "";
    box.textContent = caption.text || "";
    box.hidden = false;
    // force a style flush so a new caption fades in even right after a fade out
    void box.offsetWidth;
    box.classList.add("shown");
    clearTimeout(timer);
    const seconds = Math.min(Math.max(Number(caption.seconds) || 0, 0.6), 30);
    timer = setTimeout(hide, seconds * 1000 + LINGER_MS);
  }

  const events = new EventSource("/events");
  events.addEventListener("caption", (e) => show(JSON.parse(e.data)));
  const cut = (e) => {
    const data = JSON.parse(e.data);
    if (!data.turn_id || data.turn_id === current) {
      clearTimeout(timer);
      hide();
    }
  };
  events.addEventListener("caption/cut", cut);
  events.addEventListener("turn/end", cut);
  // Let tests and curious streamers see that the stream is up.
  events.addEventListener("open", () => document.body.setAttribute("data-live", "1"));
  events.addEventListener("error", () => document.body.removeAttribute("data-live"));
})();
