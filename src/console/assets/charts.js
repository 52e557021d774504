// Draws the overview's charts from the JSON each page embeds; the tables beside them carry the
// same numbers, so the page reads without this script (and without Chart.js).
(function () {
  'use strict';
  var PALETTE = ['#1a7f37', '#7ee2a8', '#b45309', '#b42318', '#6e7781', '#0b57d0', '#8250df', '#bf3989', '#0a7d8c', '#57606a'];

  function draw(canvas) {
    var source = document.getElementById(canvas.getAttribute('data-chart'));
    if (!source || typeof window.Chart !== 'function') return;
    var spec;
    try { spec = JSON.parse(source.textContent); } catch (e) { return; }
    var datasets = spec.datasets.map(function (d, i) {
      return { label: d.label, data: d.data, backgroundColor: d.color || PALETTE[i % PALETTE.length], borderWidth: 0 };
    });
    new window.Chart(canvas, {
      type: 'bar',
      data: { labels: spec.labels, datasets: datasets },
      options: {
        indexAxis: spec.horizontal ? 'y' : 'x',
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: datasets.length > 1, position: 'bottom' } },
        scales: {
          x: { stacked: !!spec.stacked, beginAtZero: true, ticks: { precision: 0 } },
          y: { stacked: !!spec.stacked, beginAtZero: true, ticks: { precision: 0 } }
        }
      }
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    var canvases = document.querySelectorAll('canvas[data-chart]');
    for (var i = 0; i < canvases.length; i++) draw(canvases[i]);
  });
})();
