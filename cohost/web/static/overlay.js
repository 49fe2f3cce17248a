// Shows what the twin is saying, sentence by sentence; fades out after each caption's end.
// Query parameters (all optional): position=bottom|top|middle, theme=outline|box|light,
// tag=0 (no name tag), label=TEXT (another name tag), question=1 (the question it answers,
// when the daemon sends it).
"use strict";
(() => {
  const box = document.getElementById("caption");
  const tag = document.getElementById("tag");
  const asked = document.getElementById("question");
  const params = new URLSearchParams(location.search);
  const LINGER_MS = 1200; // a caption stays a little after its speech ends, for slow readers
  const pick = (value, allowed, fallback) => (allowed.includes(value) ? value : fallback);
  document.body.dataset.position =
    pick(params.get("position"), ["bottom", "top", "middle"], "bottom");
  document.body.dataset.theme = pick(params.get("theme"), ["outline", "box", "light"], "outline");
  const label = (params.get("label") || document.querySelector('meta[name="overlay-label"]')
    .content || "").slice(0, 40);
  const showTag = params.get("tag") !== "0" && label !== "";
  const showQuestion = params.get("question") === "1";
  tag.textContent = label;
  let timer = 0;
  let current = "";
  const questions = new Map(); // turn_id -> the question, when the daemon sends them

  function hide() {
    box.classList.remove("shown");
    tag.classList.remove("shown");
    asked.classList.remove("shown");
    current = "";
  }

  function show(caption) {
    current = caption.turn_id || "";
    box.textContent = caption.text || "";
    box.hidden = false;
    tag.hidden = !showTag;
    const question = showQuestion ? questions.get(current) : "";
    asked.textContent = question || "";
    asked.hidden = !question;
    // force a style flush so a new caption fades in even right after a fade out
    void box.offsetWidth;
    for (const node of [box, tag, asked]) node.classList.add("shown");
    clearTimeout(timer);
    const seconds = Math.min(Math.max(Number(caption.seconds) || 0, 0.6), 30);
    timer = setTimeout(hide, seconds * 1000 + LINGER_MS);
  }

  const events = new EventSource("/events");
  events.addEventListener("caption", (e) => show(JSON.parse(e.data)));
  events.addEventListener("question", (e) => {
    const data = JSON.parse(e.data);
    questions.set(data.turn_id, data.login + ": " + data.text);
    while (questions.size > 20) questions.delete(questions.keys().next().value);
  });
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
