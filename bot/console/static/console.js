// The console's only script (served from our own origin; the CSP forbids inline code).
// It keeps the simulator's newest message in view.
document.addEventListener("DOMContentLoaded", function () {
  var transcript = document.getElementById("transcript");
  if (transcript) { transcript.scrollTop = transcript.scrollHeight; }
  var body = document.getElementById("body") || document.getElementById("speech");
  if (body) { body.focus(); }
});
