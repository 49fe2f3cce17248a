// The streamer's dashboard: live turns and why, the twin's state, and its controls.
// Everything shown goes in through textContent: chat text is never parsed as HTML.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const MAX_TURNS = 30;
  const MAX_CHAT = 40;
  const turns = new Map(); // turn_id -> turn, in arrival order
  const picks = new Map(); // message_id -> pick event, to name the message a turn answers
  let state = {};
  let holdExpiry = 0; // seconds a held reply waits for approval (from /api/state)
  let skew = 0; // the daemon's clock minus this browser's, in seconds
  const serverNow = () => Date.now() / 1000 + skew;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function clock(seconds) {
    const d = seconds ? new Date(seconds * 1000) : new Date();
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function fmtMs(ms) {
    return ms >= 1000 ? (ms / 1000).toFixed(2) + " s" : Math.round(ms) + " ms";
  }

  // ---- state and controls ----------------------------------------------------------------

  function renderState(data) {
    state = data.state || {};
    if (data.server_time) skew = Number(data.server_time) - Date.now() / 1000;
    const expiry = Number(data.hold_expiry_s) || 0;
    if (expiry !== holdExpiry) {
      holdExpiry = expiry;
      renderTurns(); // held turns drawn before the state arrived get their countdown
    }
    const pills = $("pills");
    pills.replaceChildren();
    const add = (text, warn) => pills.append(el("span", "pill" + (warn ? " warn" : ""), text));
    add(state.paused ? "paused" : data.busy ? "answering" : "listening", state.paused);
    add("voice " + (state.voice ? "on" : "off"), !state.voice);
    add("chat " + (state.chat ? "on" : "off"), !state.chat);
    if (state.hold) add("holding replies", true);
    if (data.held) add(data.held + " waiting for approval", true);
    add("topic: " + (state.topic || "none"));
    add("rate: " + (state.rate_per_minute == null ? "default" : state.rate_per_minute + "/min"));
    for (const [name, up] of Object.entries(data.links || {})) {
      if (up !== "up") add(name + " down", true); // a dead link degrades the twin, say which
    }
    if (data.embedded) {
      // the replies come from the stand-in, not the streamer's LoRA: say so where they are read
      const pill = el("span", "pill warn", "embedded twin");
      pill.title = data.models || "";
      pills.append(pill);
    }
    const pause = $("pause");
    pause.textContent = state.paused ? "Resume" : "Pause";
    pause.classList.toggle("on", !!state.paused);
    $("voice").textContent = state.voice ? "Voice off" : "Voice on";
    $("chat").textContent = state.chat ? "Chat off" : "Chat on";
    $("hold").textContent = state.hold ? "Stop holding" : "Hold replies";
    $("hold").classList.toggle("on", !!state.hold);
    document.body.dataset.paused = state.paused ? "1" : "0";
  }

  function commandFor(button) {
    const toggle = button.dataset.toggle;
    if (toggle === "paused") return state.paused ? "resume" : "pause";
    if (toggle === "voice") return state.voice ? "voice off" : "voice on";
    if (toggle === "chat") return state.chat ? "chat off" : "chat on";
    if (toggle === "hold") return state.hold ? "hold off" : "hold on";
    return button.dataset.command;
  }

  function logCommand(who, command, accepted, reason, reply, when) {
    // each part in its own span: a bidi override a viewer typed reorders only its own text
    const li = el("li", accepted ? "" : "refused", clock(when) + "  ");
    li.append(el("span", "said", who), ": ", el("span", "said", command));
    if (!accepted) li.append(" (refused: ", el("span", "said", reason), ")");
    // acknowledgements (approve, reject, good, bad) are said here, not in chat
    else if (reply) li.append(" — ", el("span", "said", reply));
    $("commands").prepend(li);
    while ($("commands").children.length > MAX_CHAT) $("commands").lastElementChild.remove();
    $("no-commands").hidden = true;
  }

  function notice(text, refused) {
    const box = $("notice");
    box.textContent = text;
    box.className = "notice" + (refused ? " refused" : "");
    box.hidden = false;
  }

  async function send(command, button) {
    button.disabled = true;
    try {
      const response = await fetch("/api/command", {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", "x-csrf-token": csrf },
        body: JSON.stringify({ command }),
      });
      if (response.status === 401) return location.reload();
      const data = await response.json();
      if (data.state) renderState(data);
      logCommand("dashboard", command, !!data.accepted, data.reason || data.error || "",
        data.reply || "");
      const said = data.reply || data.reason || data.error || "";
      notice("!twin " + command + (data.accepted ? ": done" : ": refused") +
        (said ? " — " + said : ""), !data.accepted);
    } catch (err) {
      notice("!twin " + command + ": the daemon did not answer (" + err + ")", true);
    } finally {
      button.disabled = false;
    }
  }

  document.querySelectorAll(".controls button").forEach((button) => {
    button.addEventListener("click", () => send(commandFor(button), button));
  });

  // say / ask / topic / note: typed here, sent through the same command path as chat's
  $("ask-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const words = $("words").value.trim().replace(/\s+/g, " ");
    const verb = $("verb").value;
    if (!words && verb !== "topic") return notice(verb + ": type something first", true);
    await send(verb + (words ? " " + words : ""), $("send"));
    if (!$("notice").classList.contains("refused")) $("words").value = "";
  });

  // ---- held replies and candidates ---------------------------------------------------------

  async function decide(turn, path, body, button, what) {
    button.disabled = true;
    try {
      const response = await fetch("/api/turns/" + encodeURIComponent(turn.turn_id) + path, {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", "x-csrf-token": csrf },
        body: JSON.stringify(body),
      });
      if (response.status === 401) return location.reload();
      const data = await response.json();
      if (data.ok) {
        turn.decided = what;
        if (data.outcome) turn.outcome = data.outcome;
      }
      notice(what + (data.ok ? ": done" : ": refused") +
        (data.reason || data.error ? " — " + (data.reason || data.error) : ""), !data.ok);
    } catch (err) {
      notice(what + ": the daemon did not answer (" + err + ")", true);
    } finally {
      renderTurns();
      loadTurns();
    }
  }

  function renderChoices(node, turn) {
    const box = node.querySelector(".choices-box");
    const held = turn.outcome === "held";
    const candidates = turn.reply ? [turn.reply, ...(turn.alternatives || [])] : [];
    box.hidden = !(held ? candidates.length : candidates.length > 1);
    if (box.hidden) return;
    node.querySelector(".reply-box").hidden = true; // the candidates show the reply
    const heading = node.querySelector(".choices-h");
    heading.textContent = turn.decided ? turn.decided
      : held ? "Waiting for your approval" : "Candidates: which was best?";
    if (held && !turn.decided && holdExpiry) {
      heading.dataset.expires = String(Number(turn.started) + holdExpiry);
      countdown(heading);
    }
    const list = node.querySelector(".choices");
    candidates.forEach((text, i) => {
      const li = el("li", i === 0 && !held ? "sent" : "");
      li.append(el("span", "candidate", text));
      if (!turn.decided) {
        const label = held ? "Approve" : "Best";
        const button = el("button", "choose", label);
        button.type = "button";
        button.addEventListener("click", () => decide(turn, "/choose", { choice: i }, button,
          (held ? "approved " : "rated best: ") + "candidate " + (i + 1)));
        li.append(button);
        if (held) {
          // edit, then approve: the edited text goes out (and is the better reply to learn from)
          const edit = el("button", "edit soft", "Edit");
          edit.type = "button";
          edit.addEventListener("click", () => {
            const area = el("textarea", "edited");
            area.value = text;
            area.maxLength = 500;
            area.setAttribute("aria-label", "edited reply");
            const go = el("button", "choose", "Approve edited");
            go.type = "button";
            go.addEventListener("click", () => decide(turn, "/choose",
              { choice: i, text: area.value }, go, "approved candidate " + (i + 1) + ", edited"));
            li.replaceChildren(area, go);
            area.focus();
          });
          li.append(edit);
        }
      }
      list.append(li);
    });
    const reject = node.querySelector(".reject");
    reject.hidden = !held || !!turn.decided;
    reject.addEventListener("click", () => decide(turn, "/reject", {}, reject, "rejected"));
  }

  // A held reply's heading counts down to its expiry; only the text changes, never the buttons.
  function countdown(heading) {
    const left = Math.round(Number(heading.dataset.expires) - serverNow());
    heading.textContent = left > 0
      ? "Waiting for your approval (expires in " + Math.floor(left / 60) + ":" +
        String(left % 60).padStart(2, "0") + ")"
      : "Waiting for your approval (expired)";
  }

  setInterval(() => document.querySelectorAll(".choices-h[data-expires]").forEach(countdown), 1000);

  async function loadState() {
    const response = await fetch("/api/state", { credentials: "same-origin" });
    if (response.status === 401) return location.reload();
    if (response.ok) renderState(await response.json());
  }

  // ---- turns -------------------------------------------------------------------------------

  function turnFor(id) {
    let turn = turns.get(id);
    if (!turn) {
      turn = { turn_id: id, started: serverNow(), outcome: "running", message: {},
        parts: {}, hits: [], sim_lines: [], stages: [], reply: "", reason: "", why: "" };
      turns.set(id, turn);
      while (turns.size > MAX_TURNS) turns.delete(turns.keys().next().value);
    }
    return turn;
  }

  function renderTurn(turn) {
    const node = $("turn-tpl").content.firstElementChild.cloneNode(true);
    node.dataset.turn = turn.turn_id;
    node.classList.toggle("running", turn.outcome === "running");
    node.querySelector(".when").textContent = clock(turn.started);
    const outcome = node.querySelector(".outcome");
    outcome.textContent = turn.outcome;
    outcome.classList.add(turn.outcome);
    // a `!twin ask` turn is not scored: it was asked for
    const asked = "ask" in (turn.parts || {});
    node.querySelector(".score").textContent = asked ? "asked with !twin ask"
      : turn.score ? "score " + Number(turn.score).toFixed(2) : "";
    node.querySelector(".login").textContent = turn.message.login || "";
    node.querySelector(".text").textContent = turn.message.text || "";
    node.querySelector(".why").textContent = turn.why || "";
    const parts = node.querySelector(".parts");
    for (const [name, value] of Object.entries(asked ? {} : turn.parts || {})) {
      const sign = value > 0 ? "+" : "";
      parts.append(el("li", "", name + " " + sign + Number(value).toFixed(2)));
    }
    const hits = node.querySelector(".hits");
    for (const hit of turn.hits || []) {
      const li = el("li", hit.tier, hit.title);
      li.append(el("span", "tier", hit.tier));
      hits.append(li);
    }
    node.querySelector(".hits-box").hidden = !(turn.hits || []).length;
    const sim = node.querySelector(".sim");
    for (const line of turn.sim_lines || []) {
      const li = el("li", line.is_twin ? "twin" : "");
      li.append(el("b", "", line.speaker), document.createTextNode(line.text));
      sim.append(li);
    }
    node.querySelector(".sim-box").hidden = !(turn.sim_lines || []).length;
    node.querySelector(".reply").textContent = turn.reply || "";
    node.querySelector(".reply-box").hidden = !turn.reply;
    renderChoices(node, turn);
    node.querySelector(".reason").textContent = turn.reason || "";
    const stages = node.querySelector(".stages");
    const total = Math.max(1, ...(turn.stages || []).map((s) => s.end_ms));
    for (const stage of turn.stages || []) {
      const track = el("div", "track");
      const span = el("div", "span");
      span.style.left = (100 * stage.start_ms / total).toFixed(2) + "%";
      span.style.width = (100 * stage.ms / total).toFixed(2) + "%";
      track.append(span);
      stages.append(el("span", "", stage.name), track, el("span", "ms", fmtMs(stage.ms)));
    }
    return node;
  }

  function renderTurns() {
    const list = $("turns");
    const nodes = [...turns.values()].reverse().map(renderTurn);
    list.replaceChildren(...nodes);
    $("empty").hidden = nodes.length > 0;
  }

  async function loadTurns() {
    const response = await fetch("/api/turns", { credentials: "same-origin" });
    if (!response.ok) return;
    for (const summary of await response.json()) {
      Object.assign(turnFor(summary.turn_id), summary);
    }
    renderTurns();
  }

  // ---- the live stream ---------------------------------------------------------------------

  function chatLine(event) {
    picks.set(event.message_id, event);
    while (picks.size > 200) picks.delete(picks.keys().next().value);
    const li = el("li", event.picked ? "picked" : "");
    li.title = event.reason;
    li.append(el("span", "cat", event.label || (event.picked ? "picked" : "not answered")));
    li.append(el("b", "login", event.login), document.createTextNode(" " + event.text));
    if (!event.picked && event.reason) li.append(el("small", "why", event.reason));
    const log = $("chat-log");
    log.prepend(li);
    $("no-chat").hidden = true;
    while (log.children.length > MAX_CHAT) log.lastElementChild.remove();
  }

  // raids, follows, subs, gifts and cheers as they arrive, and the thank-yous they got
  const KIND = { raid: "raid", follow: "follow", sub: "sub", resub: "resub", gift: "gift",
    cheer: "cheer" };
  const UNIT = { raid: "viewers", gift: "subs", cheer: "bits", sub: "months", resub: "months" };

  // a returning chatter welcomed back: from the template, by a turn, or in the answer to them
  const WELCOMED = { template: "welcomed", twin: "welcomed", reply: "welcomed in a reply" };

  function welcomeLine(e, when) {
    const li = el("li", "welcome", clock(when) + "  ");
    li.dataset.kind = "welcome";
    li.append(el("span", "kind", WELCOMED[e.mode] || "welcomed"), " ",
      el("span", "said", (e.names || []).join(", ")));
    if (e.mode !== "reply" && e.text) li.append(" — ", el("span", "said", e.text));
    return li;
  }

  function streamLine(topic, e, when) {
    if (topic === "stream/welcome") return addStreamLine(welcomeLine(e, when));
    const thanks = topic === "stream/thanks";
    const li = el("li", thanks ? "thanks" : "event", clock(when) + "  ");
    li.dataset.kind = String(e.kind || "");
    const kind = KIND[e.kind] || "event";
    if (thanks) {
      li.append(el("span", "kind", "thanked"), " ", el("span", "said", e.text || ""));
      const who = (e.names || []).join(", ");
      const more = e.events > 1 ? " (" + e.events + " " + kind + "s" + ")" : "";
      if (who) li.append(" — ", el("span", "said", who), more);
    } else {
      li.append(el("span", "kind", kind), " ", el("span", "said", e.display_name || e.login || ""));
      if (e.amount && UNIT[e.kind]) li.append(" " + e.amount + " " + UNIT[e.kind]);
      if (!e.thanked) li.append(el("small", "why", " not thanked"));
    }
    addStreamLine(li);
  }

  function addStreamLine(li) {
    const log = $("stream-log");
    log.prepend(li);
    $("no-stream").hidden = true;
    while (log.children.length > MAX_CHAT) log.lastElementChild.remove();
  }

  const handlers = {
    chat: chatLine,
    pick: chatLine,
    "stream/event": (e) => streamLine("stream/event", e),
    "stream/thanks": (e) => streamLine("stream/thanks", e),
    "stream/welcome": (e) => streamLine("stream/welcome", e),
    "turn/start": (e) => {
      const turn = turnFor(e.turn_id);
      const pick = picks.get(e.message_id);
      if (pick) {
        turn.message = { id: e.message_id, login: pick.login, text: pick.text };
        turn.parts = pick.parts;
        turn.score = pick.score;
        turn.why = pick.reason;
      }
    },
    "turn/hits": (e) => { turnFor(e.turn_id).hits = e.hits; },
    "turn/simulated": (e) => { turnFor(e.turn_id).sim_lines = e.lines; },
    "turn/reply": (e) => { turnFor(e.turn_id).reply = e.reply; },
    "turn/held": (e) => {
      const turn = turnFor(e.turn_id);
      [turn.reply = "", ...turn.alternatives] = e.candidates;
      turn.outcome = "held";
      loadState().catch(() => {}); // the count of replies waiting; the next poll retries
    },
    "turn/candidates": (e) => {
      const turn = turnFor(e.turn_id);
      [turn.reply = "", ...turn.alternatives] = e.candidates;
    },
    "turn/settled": (e) => {
      const turn = turnFor(e.turn_id);
      turn.outcome = e.outcome;
      turn.reason = e.reason;
      turn.decided = e.decided || turn.decided;
      loadState().catch(() => {});
    },
    "turn/end": (e) => {
      const turn = turnFor(e.turn_id);
      turn.outcome = e.outcome;
      turn.reason = e.reason;
      // stage times come with the finished trace, written just after this event
      setTimeout(loadTurns, 600);
    },
    command: (e) => {
      logCommand(e.login, e.command, e.accepted, e.reason, e.reply);
      loadState();
    },
  };

  // chat and commands from before this page was loaded (the daemon keeps the last few)
  async function loadHistory() {
    const response = await fetch("/api/history", { credentials: "same-origin" });
    if (!response.ok) return;
    const data = await response.json();
    for (const line of data.chat || []) chatLine(line);
    for (const c of data.commands || []) {
      logCommand(c.login, c.command, c.accepted, c.reason, c.reply, c.ts);
    }
    for (const s of data.stream || []) streamLine(s.topic, s, s.ts);
  }

  function connect() {
    const events = new EventSource("/dashboard/events");
    for (const [topic, handle] of Object.entries(handlers)) {
      events.addEventListener(topic, (e) => {
        handle(JSON.parse(e.data));
        const lines = ["chat", "pick", "command", "stream/event", "stream/thanks", "stream/welcome"];
        if (!lines.includes(topic)) {
          renderTurns();
        }
      });
    }
    events.addEventListener("open", () => {
      $("live").textContent = "live";
      $("live").classList.add("up");
      document.body.dataset.live = "1";
    });
    events.addEventListener("error", () => {
      $("live").textContent = "reconnecting";
      $("live").classList.remove("up");
    });
  }

  loadState();
  loadTurns();
  loadHistory().finally(connect);
  setInterval(loadState, 10000);
})();
