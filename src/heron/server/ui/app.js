// Heron's web page: ask, read the streamed answer and its sources, rate it.
// Plain JavaScript, no build step. Talks to POST /v1/ask (stream: true, SSE over
// fetch) and POST /v1/feedback. Text from the server is inserted as text, never HTML.
"use strict";

const $ = (id) => document.getElementById(id);
let requestId = null;

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("apikey").value.trim();
  if (key) { sessionStorage.setItem("heron-key", key); h.Authorization = "Bearer " + key; }
  return h;
}

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function errorText(response) {
  try { const body = await response.json(); return body.error.message; }
  catch (e) { return "HTTP " + response.status; }
}

function showSources(citations) {
  const list = $("sources");
  list.replaceChildren();
  for (const c of citations) {
    const li = document.createElement("li");
    const title = document.createElement("div");
    title.className = "src-title";
    title.textContent = c.title || c.chunk_id;
    const meta = document.createElement("div");
    meta.className = "src-meta";
    meta.textContent = c.source + " · score " + c.score.toFixed(3);
    const snippet = document.createElement("div");
    snippet.className = "src-snippet";
    snippet.textContent = c.snippet;
    li.append(title, meta, snippet);
    list.append(li);
  }
  $("sources-box").hidden = citations.length === 0;
}

function handle(kind, data) {
  if (kind === "citations") { showSources(data.citations); }
  else if (kind === "lead") { $("lead").textContent = data.text; setStatus("writing…"); }
  else if (kind === "token") { $("answer").textContent += data.text; }
  else if (kind === "done") {
    requestId = data.request_id;
    if (data.abstained) { $("lead").textContent = data.text; $("answer").textContent = ""; }
    if (data.note) { $("note").textContent = data.note; $("note").hidden = false; }
    $("feedback").hidden = false;
    setStatus("answered in " + (data.timings.total_s || 0).toFixed(2) + " s");
  } else if (kind === "error") { setStatus(data.error.message, true); }
}

function parseEvent(block) {
  let kind = "message"; const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) kind = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trim());
  }
  return data.length ? [kind, JSON.parse(data.join("\n"))] : null;
}

async function ask(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) return;
  requestId = null;
  $("ask").disabled = true;
  for (const id of ["lead", "answer", "note", "feedback-status"]) $(id).textContent = "";
  for (const id of ["thumb-up", "thumb-down"]) { $(id).classList.remove("chosen"); $(id).disabled = false; }
  $("note").hidden = true; $("feedback").hidden = true;
  $("answer-box").hidden = false; $("sources-box").hidden = true;
  setStatus("searching…");
  const body = { question: question, stream: true };
  const collection = $("collection").value.trim();
  if (collection) body.collection = collection;
  try {
    const response = await fetch("/v1/ask", { method: "POST", headers: headers(), body: JSON.stringify(body) });
    if (!response.ok) { setStatus(await errorText(response), true); $("answer-box").hidden = true; return; }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const parsed = parseEvent(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        if (parsed) handle(parsed[0], parsed[1]);
      }
    }
  } catch (e) {
    setStatus("the connection failed: " + e.message, true);
  } finally {
    $("ask").disabled = false;
  }
}

async function rate(rating) {
  if (!requestId) return;
  const body = { request_id: requestId, rating: rating, comment: $("comment").value.trim() };
  const response = await fetch("/v1/feedback", { method: "POST", headers: headers(), body: JSON.stringify(body) });
  if (response.ok) {
    $("thumb-" + rating).classList.add("chosen");
    for (const id of ["thumb-up", "thumb-down"]) $(id).disabled = true;
    $("feedback-status").textContent = "Thanks — feedback recorded.";
  } else {
    $("feedback-status").textContent = await errorText(response);
  }
}

async function init() {
  $("apikey").value = sessionStorage.getItem("heron-key") || "";
  $("ask-form").addEventListener("submit", ask);
  $("thumb-up").addEventListener("click", () => rate("up"));
  $("thumb-down").addEventListener("click", () => rate("down"));
  try {
    const info = await (await fetch("/healthz")).json();
    $("collection").placeholder = info.collection;
    $("server-info").textContent = "collection " + info.collection + " · model " + info.llm +
      (info.auth === "everything" ? " · API key required" : "");
    if (info.auth === "everything") $("options").open = true;
  } catch (e) { /* the page still works without it */ }
}

document.addEventListener("DOMContentLoaded", init);
