// Open the span named in the URL (#span-<id>), e.g. from an evidence link, and bring it into view;
// "expand errors" / "collapse all" buttons for long traces; "n more" evidence items on demand.
(function () {
  function showHash() {
    var id = decodeURIComponent(location.hash.slice(1));
    if (!id) return;
    var el = document.getElementById(id);
    if (el && el.tagName === "DETAILS") { el.open = true; el.scrollIntoView({block: "center"}); }
  }
  document.addEventListener("click", function (ev) {
    var act = ev.target && ev.target.getAttribute && ev.target.getAttribute("data-act");
    if (!act) return;
    if (act === "more") {
      ev.target.previousElementSibling.classList.add("all");
      ev.target.remove();
      return;
    }
    document.querySelectorAll(".wf details").forEach(function (d) {
      d.open = act === "errors" ? d.classList.contains("span-err") : false;
    });
  });
  window.addEventListener("hashchange", showHash);
  showHash();
  var wf = document.querySelector(".wf");
  if (wf) wf.setAttribute("data-ready", "1");
})();
