// Progressive enhancement only: the pages read fine without it.
// Shows every <time datetime> in the viewer's time zone (the UTC text stays as a tooltip), and a
// relative "in 3 min" / "5 min ago" for those marked data-relative (deadlines).
(function () {
  'use strict';
  var absolute = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  var relative = typeof Intl.RelativeTimeFormat === 'function' ? new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }) : null;
  var UNITS = [['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]];

  function relativeText(date) {
    if (!relative) return '';
    var seconds = Math.round((date.getTime() - Date.now()) / 1000);
    for (var i = 0; i < UNITS.length; i++) {
      var unit = UNITS[i];
      if (Math.abs(seconds) >= unit[1] || unit[0] === 'second') return relative.format(Math.round(seconds / unit[1]), unit[0]);
    }
    return '';
  }

  function localize(root) {
    var times = (root || document).querySelectorAll('time[datetime]');
    for (var i = 0; i < times.length; i++) {
      var el = times[i];
      var date = new Date(el.getAttribute('datetime'));
      if (isNaN(date.getTime())) continue;
      if (!el.hasAttribute('data-utc')) {
        el.setAttribute('data-utc', el.textContent);
        el.title = el.textContent;
      }
      var text = absolute.format(date);
      if (el.hasAttribute('data-relative')) text += ' (' + relativeText(date) + ')';
      el.textContent = text;
    }
  }

  document.addEventListener('DOMContentLoaded', function () { localize(document); });
  // Rows replaced by the live refresh (htmx) come in with UTC text again.
  document.addEventListener('htmx:load', function (event) { localize(event.target); });
  setInterval(function () { localize(document); }, 30000);
})();
