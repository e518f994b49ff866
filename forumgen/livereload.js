// Live reload for `forumgen serve` (served by it under __forumgen__/, never part of a
// built site). The server tells which build the page came from (data-generation) and
// streams the outcome of every build: the page reloads after a successful rebuild, and
// shows a failed build's problems over the page until a later build succeeds.
(function () {
  'use strict';
  var script = document.currentScript;
  var shown = script.getAttribute('data-generation');
  var box = null;

  function showProblems(problems) {
    if (box === null) {
      box = document.createElement('section');
      box.id = 'forumgen-build-problems';
      box.setAttribute('role', 'alert');
      // Set through the CSSOM: the pages' Content-Security-Policy forbids inline styles.
      Object.assign(box.style, {
        position: 'fixed', left: '0', right: '0', bottom: '0', zIndex: '2147483647',
        maxHeight: '50vh', overflow: 'auto', margin: '0', padding: '1rem',
        background: '#7f1d1d', color: '#fff', font: '14px/1.4 system-ui, sans-serif',
        boxShadow: '0 -2px 8px rgba(0, 0, 0, 0.4)'
      });
      document.body.appendChild(box);
    }
    var title = document.createElement('h2');
    Object.assign(title.style, {font: 'bold 16px/1.4 system-ui, sans-serif', margin: '0'});
    title.textContent = 'forumgen: the build failed; this page shows the last good build.';
    var list = document.createElement('pre');
    Object.assign(list.style, {margin: '0.5rem 0 0', whiteSpace: 'pre-wrap',
                               font: '13px/1.4 ui-monospace, monospace'});
    // Text, never markup: a problem quotes what the site's files say.
    list.textContent = problems.join('\n');
    box.replaceChildren(title, list);
  }

  var events = new EventSource(new URL('events', script.src));
  events.addEventListener('build', function (event) {
    var build = JSON.parse(event.data);
    if (!build.ok) {
      showProblems(build.problems);
    } else if (String(build.generation) !== shown) {
      events.close();
      location.reload();
    }
  });
}());
