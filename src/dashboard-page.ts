/**
 * The dashboard's page and its script (served as `/assets/dashboard.js`), kept as strings so that
 * they ship inside the build. The script is plain ES2020 for the browser: no framework, no network
 * but this address (`/events`, `/connection`, `/drain`, `/assets/mermaid.js`).
 *
 * @module
 * @internal
 */

/** `GET /`. */
export const pageHtml = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ws-stream dashboard</title>
<link rel="icon" href="data:,">
<style>
  body { font: 13px/1.4 system-ui, sans-serif; margin: 0; color: #1d2430; background: #f6f7f9; }
  header { display: flex; gap: 16px; align-items: center; padding: 8px 16px; background: #1d2430; color: #fff; }
  header h1 { font-size: 16px; margin: 0; }
  .badge { padding: 2px 8px; border-radius: 10px; background: #2a9d8f; }
  .badge.draining { background: #e76f51; } .badge.stopped { background: #6c757d; }
  #notice { opacity: .8; } #drain-area { margin-left: auto; display: flex; gap: 6px; }
  main { display: grid; grid-template-columns: minmax(520px, 1fr) minmax(420px, 1fr); gap: 16px; padding: 16px; }
  section { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 12px; min-width: 0; }
  h2 { font-size: 14px; margin: 0 0 8px; }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #eef0f3; white-space: nowrap; }
  tbody tr { cursor: pointer; } tbody tr:hover { background: #f0f4ff; } tbody tr.selected { background: #ffe8a3; }
  td.n { text-align: right; }
  .state { font-family: ui-monospace, monospace; }
  #controls { display: flex; gap: 8px; align-items: center; margin: 8px 0; }
  #legend span { margin-right: 10px; } #legend i { display: inline-block; width: 10px; height: 10px; margin-right: 3px; }
  #events { font-family: ui-monospace, monospace; font-size: 12px; max-height: 220px; overflow: auto; padding-left: 20px; }
  #machine { overflow: auto; max-height: 420px; } #machine svg { max-width: none !important; width: 1100px; height: auto; }
  #server-machine svg { max-height: 300px; }
  progress { width: 160px; }
  #behind { color: #e76f51; }
</style>
</head>
<body>
<header>
  <h1>ws-stream</h1>
  <span>server <span id="server-state" class="badge">…</span></span>
  <span id="drain-progress" hidden><progress id="drain-bar" max="1" value="0"></progress> <span id="drain-text"></span></span>
  <span id="behind"></span>
  <span id="notice"></span>
  <span id="drain-area" hidden><input id="token" type="password" placeholder="admin token" autocomplete="off"><button id="drain">Drain</button><span id="drain-result"></span></span>
</header>
<main>
  <section>
    <h2>Connections by state, last minutes</h2>
    <svg id="chart" width="520" height="110" role="img" aria-label="connections by state over time"></svg>
    <div id="legend"></div>
    <div id="controls">
      <label>State <select id="filter">
        <option value="">all</option><option>connecting</option><option>open</option><option>interrupted</option><option>closingSent</option><option>closingReceived</option>
      </select></label>
      <span id="shown"></span>
      <button id="prev">‹ prev</button><span id="page"></span><button id="next">next ›</button>
    </div>
    <table id="rows">
      <thead><tr><th>id</th><th>remote address</th><th>state</th><th>bytes in</th><th>bytes out</th><th>age</th><th>paused</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section>
    <h2>Connection <span id="selected">— select a row</span></h2>
    <div id="machine"></div>
    <h2>Recent events</h2>
    <ol id="events"></ol>
    <h2>Server machine</h2>
    <div id="server-machine"></div>
  </section>
</main>
<script src="/assets/mermaid.js"></script>
<script src="/assets/dashboard.js"></script>
</body>
</html>
`

/** `GET /assets/dashboard.js`. */
export const pageScript = String.raw`'use strict'
;(function () {
  var PAGE = 100
  var STATES = ['connecting', 'open', 'interrupted', 'closingSent', 'closingReceived']
  var COLORS = { connecting: '#8ecae6', open: '#2a9d8f', interrupted: '#9b5de5', closingSent: '#f4a261', closingReceived: '#e76f51' }
  var rows = new Map()
  var history = []
  var offset = 0
  var page = 0
  var selected = null
  var drawn = { machine: '', server: '' }
  var renders = 0
  var queued = false
  var $ = function (id) { return document.getElementById(id) }
  var esc = function (s) { return String(s).replace(/[&<>"]/g, function (c) { return '&#' + c.charCodeAt(0) + ';' }) }
  var bytes = function (n) { return n < 1024 ? n + ' B' : n < 1048576 ? (n / 1024).toFixed(1) + ' KiB' : (n / 1048576).toFixed(1) + ' MiB' }
  mermaid.initialize({ startOnLoad: false, securityLevel: 'strict', theme: 'neutral' })

  function draw(target, key, text) {
    if (drawn[key] === text) return
    drawn[key] = text
    var id = 'mermaid-' + ++renders
    mermaid.render(id, text).then(function (result) {
      if (drawn[key] !== text) return
      target.innerHTML = result.svg
      target.dataset.drawn = String(renders)
    }).catch(function (error) { target.textContent = 'cannot draw: ' + error.message })
  }

  function schedule() {
    if (queued) return
    queued = true
    requestAnimationFrame(function () { queued = false; render() })
  }

  function render() {
    var filter = $('filter').value
    var shown = []
    rows.forEach(function (r) { if (!filter || r.state.split('.')[0] === filter) shown.push(r) })
    var pages = Math.max(1, Math.ceil(shown.length / PAGE))
    if (page >= pages) page = pages - 1
    var now = performance.now() + offset
    var html = ''
    shown.slice(page * PAGE, page * PAGE + PAGE).forEach(function (r) {
      html += '<tr data-id="' + esc(r.id) + '"' + (r.id === selected ? ' class="selected"' : '') + '><td>' + esc(r.id) + '</td><td>' + esc(r.remoteAddress) +
        '</td><td class="state">' + esc(r.state) + '</td><td class="n">' + bytes(r.bytesIn) + '</td><td class="n">' + bytes(r.bytesOut) +
        '</td><td class="n">' + Math.max(0, (now - r.acceptedAt) / 1000).toFixed(0) + ' s</td><td>' + (r.paused ? 'paused' : '') + '</td></tr>'
    })
    $('rows').tBodies[0].innerHTML = html
    $('shown').textContent = shown.length + ' of ' + rows.size + ' shown'
    $('page').textContent = 'page ' + (page + 1) + ' of ' + pages
    chart()
  }

  function chart() {
    var svg = $('chart')
    var w = 520, h = 100, max = 1
    history.forEach(function (s) { STATES.forEach(function (k) { max = Math.max(max, s.counts[k] || 0) }) })
    var out = '<line x1="0" y1="' + h + '" x2="' + w + '" y2="' + h + '" stroke="#ccc"/>' +
      '<text x="2" y="10" font-size="10" fill="#666">' + max + '</text>'
    var step = w / Math.max(1, 179)
    STATES.forEach(function (k) {
      var points = history.map(function (s, i) { return (i * step).toFixed(1) + ',' + (h - (s.counts[k] || 0) / max * (h - 12)).toFixed(1) }).join(' ')
      out += '<polyline fill="none" stroke-width="2" stroke="' + COLORS[k] + '" points="' + points + '" data-state="' + k + '"/>'
    })
    svg.innerHTML = out
    var now = {}
    rows.forEach(function (r) { var k = r.state.split('.')[0]; now[k] = (now[k] || 0) + 1 })
    $('legend').innerHTML = STATES.map(function (k) { return '<span><i style="background:' + COLORS[k] + '"></i>' + k + ' ' + (now[k] || 0) + '</span>' }).join('')
  }

  function setServer(server) {
    var badge = $('server-state')
    badge.textContent = server.state
    badge.className = 'badge ' + server.state.split('.')[0]
    if (server.diagram) draw($('server-machine'), 'server', server.diagram)
    var drain = server.drain
    $('drain-progress').hidden = !drain
    if (drain) {
      var done = drain.startedWith - drain.remaining
      $('drain-bar').max = Math.max(1, drain.startedWith)
      $('drain-bar').value = done
      $('drain-text').textContent = 'drain: ' + done + ' of ' + drain.startedWith + ' closed, ' + drain.remaining + ' left, ' +
        (drain.elapsedMs / 1000).toFixed(1) + ' s of ' + (drain.timeoutMs / 1000).toFixed(1) + ' s'
    }
  }

  var loading = false, again = false
  function loadSelected() {
    if (selected === null) return
    if (loading) { again = true; return }
    loading = true
    var id = selected
    fetch('/connection?id=' + encodeURIComponent(id)).then(function (r) { return r.ok ? r.json() : null }).then(function (c) {
      if (c === null || id !== selected) return
      $('selected').textContent = c.id + ' — ' + c.state
      $('machine').dataset.state = c.state
      draw($('machine'), 'machine', c.diagram)
      $('events').innerHTML = c.events.slice().reverse().map(function (e) {
        return '<li data-type="' + esc(e.type) + '">' + new Date(e.at).toISOString().slice(11, 23) + ' ' + esc(e.text) + '</li>'
      }).join('')
    }).catch(function () {}).then(function () {
      loading = false
      if (again) { again = false; loadSelected() }
    })
  }

  var events = new EventSource('/events')
  events.addEventListener('snapshot', function (e) {
    var d = JSON.parse(e.data)
    offset = d.now - performance.now()
    rows.clear()
    d.rows.forEach(function (r) { rows.set(r.id, r) })
    history = d.history
    $('notice').textContent = d.token ? '' : 'read-only (start with --admin-token to allow a drain)'
    $('drain-area').hidden = !d.token
    $('behind').textContent = d.dropped > 0 ? 'this page fell behind: ' + d.dropped + ' updates dropped, resynced' : ''
    setServer(d.server)
    loadSelected()
    schedule()
  })
  events.addEventListener('delta', function (e) {
    var d = JSON.parse(e.data)
    offset = d.now - performance.now()
    var mine = false
    d.added.forEach(function (r) { rows.set(r.id, r) })
    d.changed.forEach(function (c) { var r = rows.get(c.id); if (r) { r.state = c.state; r.paused = c.paused } if (c.id === selected) mine = true })
    d.closed.forEach(function (id) { rows.delete(id); if (id === selected) mine = true })
    d.bytes.forEach(function (b) { var r = rows.get(b[0]); if (r) { r.bytesIn = b[1]; r.bytesOut = b[2] } if (b[0] === selected) mine = true })
    if (d.sample && (history.length === 0 || history[history.length - 1].at !== d.sample.at)) {
      history.push(d.sample)
      if (history.length > 180) history.shift()
    }
    setServer(d.server)
    if (mine) loadSelected()
    schedule()
  })
  events.onerror = function () { $('server-state').textContent = 'disconnected'; $('server-state').className = 'badge stopped' }

  $('rows').addEventListener('click', function (e) {
    var tr = e.target.closest('tr[data-id]')
    if (!tr) return
    selected = tr.dataset.id
    loadSelected()
    schedule()
  })
  $('filter').addEventListener('change', function () { page = 0; schedule() })
  $('prev').addEventListener('click', function () { page = Math.max(0, page - 1); schedule() })
  $('next').addEventListener('click', function () { page++; schedule() })
  $('drain').addEventListener('click', function () {
    fetch('/drain', { method: 'POST', headers: { Authorization: 'Bearer ' + $('token').value } }).then(function (r) {
      $('drain-result').textContent = r.status === 202 ? 'draining' : r.status === 401 || r.status === 403 ? 'refused: wrong token' : 'failed: ' + r.status
    })
  })
  setInterval(schedule, 1000)
})()
`
