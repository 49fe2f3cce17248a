// Shows what the twin is saying, sentence by sentence; fades out after each caption's end.
// Query parameters (all optional): position=bottom|top|middle, theme=outline|box|light,
// tag=0 (no name tag), label=TEXT (another name tag), question=1 (the question it answers,
// when the daemon sends it), audio=1 (the page plays the twin's voice itself, for OBS to
// capture with the browser source; off by default, so desktop audio never hears it twice).
"use strict";
(() => {
  const box = document.getElementById("caption");
  const tag = document.getElementById("tag");
  const asked = document.getElementById("question");
  const voice = document.getElementById("voice");
  const params = new URLSearchParams(location.search);
  const LINGER_MS = 1200; // a caption stays a little after its speech ends, for slow readers
  const AUDIO_WAIT_MS = 1500; // a clip that has not started by then: the caption shows anyway
  const pick = (value, allowed, fallback) => (allowed.includes(value) ? value : fallback);
  document.body.dataset.position =
    pick(params.get("position"), ["bottom", "top", "middle"], "bottom");
  document.body.dataset.theme = pick(params.get("theme"), ["outline", "box", "light"], "outline");
  const label = (params.get("label") || document.querySelector('meta[name="overlay-label"]')
    .content || "").slice(0, 40);
  const showTag = params.get("tag") !== "0" && label !== "";
  const showQuestion = params.get("question") === "1";
  const withAudio = params.get("audio") === "1";
  document.body.dataset.audio = withAudio ? "on" : "off";
  tag.textContent = label;
  let timer = 0;
  let waiting = 0;
  let current = "";
  let pending = null; // the caption whose clip is loading: shown when it starts playing
  let busy = false; // a clip is loading or playing
  let speaking = ""; // the turn whose clip that is
  const waitingClips = []; // the turn's next sentences, while one still plays
  const questions = new Map(); // turn_id -> the question, when the daemon sends them

  function hide() {
    box.classList.remove("shown");
    tag.classList.remove("shown");
    asked.classList.remove("shown");
    current = "";
  }

  function silence() {
    pending = null;
    busy = false;
    speaking = "";
    waitingClips.length = 0;
    clearTimeout(waiting);
    if (!voice.paused) voice.pause();
    voice.removeAttribute("src");
    voice.load(); // drop the clip: a cut sentence is never heard again
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

  // With audio=1: the sentence's clip plays, and its caption shows as the sound starts, so
  // eyes and ears get the words together; a clip that cannot play never holds a caption back.
  // The daemon sends a turn's next sentence as the last one ends by its clock: one that comes
  // while the page still plays the last waits for it, so no sentence loses its tail.
  function speak(caption) {
    if (busy && caption.turn_id === speaking) {
      waitingClips.push(caption);
      return;
    }
    silence();
    play(caption);
  }

  function play(caption) {
    busy = true;
    pending = caption;
    speaking = caption.turn_id || "";
    voice.src = caption.audio;
    const showPending = () => {
      if (pending === caption) {
        pending = null;
        clearTimeout(waiting);
        show(caption);
      }
    };
    waiting = setTimeout(showPending, AUDIO_WAIT_MS);
    voice.addEventListener("playing", showPending, { once: true });
    voice.play().catch((err) => {
      // autoplay refused (a browser, not OBS) or a clip gone: the caption still shows
      if (pending !== caption) return; // cut, or the next sentence came: not a failure
      document.body.dataset.audioError = err.name || "error";
      showPending();
      next();
    });
  }

  function next() {
    busy = false;
    const caption = waitingClips.shift();
    if (caption) play(caption);
  }
  voice.addEventListener("ended", next);
  // a clip that fails once it is loading or playing (cut off, a broken file) ends as a
  // played one would: its caption shows, and the turn's next sentences go on
  voice.addEventListener("error", () => {
    if (!busy || !voice.getAttribute("src")) return; // dropped by silence(): nothing failed
    document.body.dataset.audioError = "media";
    if (pending) {
      const caption = pending;
      pending = null;
      clearTimeout(waiting);
      show(caption);
    }
    next();
  });

  const events = new EventSource("/events");
  events.addEventListener("caption", (e) => {
    const caption = JSON.parse(e.data);
    if (withAudio && caption.audio) speak(caption);
    else show(caption);
  });
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
    if (withAudio && (!data.turn_id || data.turn_id === speaking)) silence();
  };
  events.addEventListener("caption/cut", cut);
  events.addEventListener("turn/end", cut);
  // Let tests and curious streamers see that the stream is up.
  events.addEventListener("open", () => document.body.setAttribute("data-live", "1"));
  events.addEventListener("error", () => document.body.removeAttribute("data-live"));
})();
