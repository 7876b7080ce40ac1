/*
 * kefu web chat widget. Plain JavaScript, no dependencies, no build step. Embed with:
 *
 *   <script src="https://<api>/webchat/widget.js" data-channel="<channel id>" data-site-key="<site key>" async></script>
 *
 * Optional attributes: data-api (the API base URL; default: where this script came from), data-title (the
 * header before an agent is known), data-lang (default: the browser's language).
 *
 * Elements: a launcher button (#kefu-launcher) opens the chat box (#kefu-box): a header with the agent's name
 * and second line (.kefu-name, .kefu-line2), the messages (.kefu-msg; .kefu-out: written by the visitor,
 * .kefu-in: received from an agent or an automatic greeting), a textarea (#kefu-input) and a send button
 * (#kefu-send). The visitor id is kept in localStorage; messages are received by long polling. All text is
 * inserted as text nodes, never as HTML.
 */
(function () {
  'use strict';
  var script = document.currentScript ||
    (function () { var s = document.querySelectorAll('script[data-channel]'); return s[s.length - 1]; })();
  if (!script || window.__kefuWidget) return;
  window.__kefuWidget = true;

  var channel = script.getAttribute('data-channel') || '';
  var siteKey = script.getAttribute('data-site-key') || '';
  var api = (script.getAttribute('data-api') || script.src.replace(/\/webchat\/widget\.js.*$/, '')).replace(/\/+$/, '');
  var lang = script.getAttribute('data-lang') || navigator.language || '';
  var zh = /^zh/i.test(lang);
  var T = zh
    ? { title: '在线客服', sub: '我们会尽快回复您', ph: '请输入消息…', send: '发送', open: '在线咨询', close: '关闭',
        failed: '发送失败，点击重试', slow: '发送太频繁，请稍候', offline: '连接中断，正在重试…', long: '消息太长' }
    : { title: 'Chat with us', sub: 'We usually reply in a few minutes', ph: 'Type a message…', send: 'Send',
        open: 'Chat with us', close: 'Close', failed: 'Not sent. Tap to retry', slow: 'Too many messages, please wait',
        offline: 'Connection lost, retrying…', long: 'Message is too long' };
  var title = script.getAttribute('data-title') || T.title;
  var base = api + '/webchat/' + encodeURIComponent(channel);
  var storeKey = 'kefu:' + channel + ':visitor';
  var st = { token: null, opening: null, visitor: load(), cursor: '', started: false, polling: false, seen: {}, pending: {}, open: false };

  function load() { try { return localStorage.getItem(storeKey); } catch (e) { return null; } }
  function save(v) { try { localStorage.setItem(storeKey, v); } catch (e) { /* private mode: one visit only */ } }
  function el(tag, attrs, text) {
    var n = document.createElement(tag);
    for (var k in attrs || {}) if (Object.prototype.hasOwnProperty.call(attrs, k)) n.setAttribute(k, attrs[k]);
    if (text != null) n.textContent = text;
    return n;
  }
  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  // ---- Styles (scoped to the widget's ids and classes) ----
  var css = [
    '#kefu-launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;border-radius:28px;padding:14px 20px;',
    'background:#1f6feb;color:#fff;font:600 15px/1 system-ui,-apple-system,"Segoe UI",sans-serif;cursor:pointer;',
    'box-shadow:0 6px 20px rgba(0,0,0,.25)}',
    '#kefu-launcher.kefu-unread::after{content:"";position:absolute;top:6px;right:8px;width:10px;height:10px;border-radius:50%;background:#f85149}',
    '#kefu-box{position:fixed;right:20px;bottom:84px;z-index:2147483000;width:340px;max-width:calc(100vw - 40px);height:460px;',
    'max-height:calc(100vh - 110px);display:none;flex-direction:column;background:#fff;border-radius:12px;overflow:hidden;',
    'box-shadow:0 10px 40px rgba(0,0,0,.3);font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328}',
    '#kefu-box.kefu-open{display:flex}',
    '#kefu-box .kefu-head{display:flex;align-items:center;gap:10px;padding:12px 14px;background:#1f6feb;color:#fff}',
    '#kefu-box .kefu-avatar{width:36px;height:36px;border-radius:50%;background:rgba(255,255,255,.25);display:flex;',
    'align-items:center;justify-content:center;font-weight:700;flex:none}',
    '#kefu-box .kefu-who{flex:1;min-width:0}',
    '#kefu-box .kefu-name{font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}',
    '#kefu-box .kefu-line2{font-size:12px;opacity:.85;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}',
    '#kefu-box .kefu-close{border:0;background:none;color:#fff;font-size:22px;cursor:pointer;padding:0 4px}',
    '#kefu-box .kefu-list{flex:1;overflow-y:auto;padding:12px;background:#f6f8fa;display:flex;flex-direction:column;gap:8px}',
    '#kefu-box .kefu-msg{max-width:80%;padding:8px 11px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}',
    '#kefu-box .kefu-in{align-self:flex-start;background:#fff;border:1px solid #d0d7de;border-bottom-left-radius:4px}',
    '#kefu-box .kefu-out{align-self:flex-end;background:#1f6feb;color:#fff;border-bottom-right-radius:4px}',
    '#kefu-box .kefu-pending{opacity:.6}',
    '#kefu-box .kefu-failed{background:#f85149;cursor:pointer}',
    '#kefu-box .kefu-status{font-size:12px;color:#9a6700;padding:0 12px;min-height:0}',
    '#kefu-box .kefu-form{display:flex;gap:8px;padding:10px;border-top:1px solid #d0d7de;background:#fff}',
    '#kefu-box .kefu-input{flex:1;resize:none;height:40px;border:1px solid #d0d7de;border-radius:8px;padding:8px;font:inherit}',
    '#kefu-send{border:0;border-radius:8px;background:#1f6feb;color:#fff;padding:0 14px;font:600 14px system-ui,sans-serif;cursor:pointer}',
    '#kefu-send:disabled{opacity:.5;cursor:default}'
  ].join('');
  var style = el('style', { id: 'kefu-style' }, css);

  // ---- Elements ----
  var launcher = el('button', { id: 'kefu-launcher', type: 'button', 'aria-label': T.open }, T.open);
  var box = el('div', { id: 'kefu-box', role: 'dialog', 'aria-label': title });
  var head = el('div', { 'class': 'kefu-head' });
  var avatar = el('div', { 'class': 'kefu-avatar', 'aria-hidden': 'true' }, title.charAt(0));
  var who = el('div', { 'class': 'kefu-who' });
  var nameEl = el('div', { 'class': 'kefu-name' }, title);
  var line2El = el('div', { 'class': 'kefu-line2' }, T.sub);
  var closeBtn = el('button', { 'class': 'kefu-close', type: 'button', 'aria-label': T.close }, '\u00d7');
  var list = el('div', { 'class': 'kefu-list', role: 'log', 'aria-live': 'polite' });
  var status = el('div', { 'class': 'kefu-status', role: 'status' });
  var form = el('form', { 'class': 'kefu-form' });
  var input = el('textarea', { id: 'kefu-input', 'class': 'kefu-input', rows: '1', maxlength: '2000', placeholder: T.ph });
  var sendBtn = el('button', { id: 'kefu-send', type: 'submit' }, T.send);
  who.appendChild(nameEl); who.appendChild(line2El);
  head.appendChild(avatar); head.appendChild(who); head.appendChild(closeBtn);
  form.appendChild(input); form.appendChild(sendBtn);
  box.appendChild(head); box.appendChild(list); box.appendChild(status); box.appendChild(form);

  function mount() {
    (document.head || document.documentElement).appendChild(style);
    document.body.appendChild(launcher);
    document.body.appendChild(box);
  }
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);

  // ---- Rendering ----
  function showAgent(agent) {
    var name = agent && agent.name ? agent.name : title;
    nameEl.textContent = name;
    line2El.textContent = agent ? (agent.line2 || '') : T.sub;
    avatar.textContent = name.charAt(0).toUpperCase();
  }
  function setStatus(text) { status.textContent = text || ''; }
  function scroll() { list.scrollTop = list.scrollHeight; }
  function label(m) {
    if (m.text) return m.text;
    return '[' + (m.type || 'message') + ']' + (m.url ? ' ' + m.url : '');
  }
  function render(m) {
    if (st.seen[m.id]) return;
    st.seen[m.id] = true;
    var mine = m.direction === 'inbound';
    if (mine && m.client_id && st.pending[m.client_id]) {
      // Our own message, already on screen.
      st.pending[m.client_id].setAttribute('data-id', m.id);
      st.pending[m.client_id].classList.remove('kefu-pending');
      delete st.pending[m.client_id];
      return;
    }
    var bubble = el('div', { 'class': 'kefu-msg ' + (mine ? 'kefu-out' : 'kefu-in'), 'data-id': m.id }, label(m));
    list.appendChild(bubble);
    if (!mine && !st.open) launcher.classList.add('kefu-unread');
    scroll();
  }

  // ---- API ----
  function call(method, path, body) {
    var headers = { 'content-type': 'application/json' };
    if (st.token) headers.authorization = 'Bearer ' + st.token;
    return fetch(base + path, {
      method: method, headers: headers, mode: 'cors', credentials: 'omit',
      body: body ? JSON.stringify(body) : undefined
    }).then(function (r) {
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
        return { status: r.status, data: data, retryAfter: parseInt(r.headers.get('retry-after') || '0', 10) };
      });
    });
  }
  // Opens a session (one at a time: concurrent callers share it).
  function session() {
    if (st.opening) return st.opening;
    st.token = null;
    var done = function () { st.opening = null; };
    st.opening = call('POST', '/sessions', { site_key: siteKey, visitor_id: st.visitor || undefined, lang: lang })
      .then(function (r) {
        if (r.status !== 201 || !r.data) throw new Error('session ' + r.status);
        st.token = r.data.session_token;
        st.visitor = r.data.visitor_id;
        save(st.visitor);
        showAgent(r.data.agent);
      })
      .then(done, function (e) { done(); throw e; });
    return st.opening;
  }
  // A call with the session, opening a new session once when it has expired.
  function authed(method, path, body) {
    var first = st.token ? call(method, path, body) : Promise.resolve({ status: 401 });
    return first.then(function (r) {
      if (r.status !== 401) return r;
      return session().then(function () { return call(method, path, body); });
    });
  }
  function start() {
    if (st.started) return;
    st.started = true;
    session()
      .then(function () { return authed('GET', '/history'); })
      .then(function (r) {
        if (r.status === 200 && r.data) {
          r.data.messages.forEach(render);
          st.cursor = r.data.cursor || '';
          showAgent(r.data.agent);
        }
        poll();
      })
      .catch(function () { st.started = false; setStatus(T.offline); setTimeout(start, 5000); });
  }
  function poll() {
    if (st.polling) return;
    st.polling = true;
    var delay = 1000;
    (function next() {
      authed('GET', '/messages?wait=20&after=' + encodeURIComponent(st.cursor))
        .then(function (r) {
          if (r.status !== 200 || !r.data) throw new Error('poll ' + r.status);
          delay = 1000;
          setStatus('');
          r.data.messages.forEach(render);
          st.cursor = r.data.cursor || st.cursor;
          showAgent(r.data.agent);
          next();
        })
        .catch(function () {
          setStatus(T.offline);
          delay = Math.min(delay * 2, 30000);
          sleep(delay).then(next);
        });
    })();
  }

  // ---- Sending ----
  function clientId() {
    var rnd = (window.crypto && crypto.getRandomValues)
      ? Array.prototype.map.call(crypto.getRandomValues(new Uint8Array(6)), function (b) { return (b + 256).toString(16).slice(1); }).join('')
      : Math.random().toString(16).slice(2, 14);
    return 'c' + Date.now().toString(36) + '-' + rnd;
  }
  function deliver(cid, text, bubble, attempt) {
    bubble.classList.remove('kefu-failed');
    bubble.classList.add('kefu-pending');
    return authed('POST', '/messages', { client_id: cid, text: text }).then(function (r) {
      if (r.status === 202) {
        setStatus('');
        if (r.data && r.data.id) bubble.setAttribute('data-id', r.data.id);
        bubble.classList.remove('kefu-pending');
        return;
      }
      if (r.status === 429) {
        setStatus(T.slow);
        return sleep(Math.max(1, r.retryAfter || 5) * 1000).then(function () { return deliver(cid, text, bubble, attempt); });
      }
      if (r.status >= 500 && attempt < 3) return sleep(1000 * (attempt + 1)).then(function () { return deliver(cid, text, bubble, attempt + 1); });
      failed(cid, text, bubble);
    }, function () {
      // Network failure: resend with the same client id (the server drops duplicates).
      if (attempt < 3) return sleep(1000 * (attempt + 1)).then(function () { return deliver(cid, text, bubble, attempt + 1); });
      failed(cid, text, bubble);
    });
  }
  function failed(cid, text, bubble) {
    bubble.classList.remove('kefu-pending');
    bubble.classList.add('kefu-failed');
    bubble.title = T.failed;
    bubble.onclick = function () { bubble.onclick = null; deliver(cid, text, bubble, 0); };
  }
  function send() {
    var text = input.value.replace(/^\s+|\s+$/g, '');
    if (!text) return;
    if (text.length > 2000) { setStatus(T.long); return; }
    input.value = '';
    var cid = clientId();
    var bubble = el('div', { 'class': 'kefu-msg kefu-out kefu-pending', 'data-client-id': cid }, text);
    st.pending[cid] = bubble;
    list.appendChild(bubble);
    scroll();
    var go = function () { return deliver(cid, text, bubble, 0); };
    (st.token ? Promise.resolve() : session()).then(go, go);
  }

  // ---- Events ----
  function toggle(open) {
    st.open = open;
    box.classList.toggle('kefu-open', open);
    if (open) {
      launcher.classList.remove('kefu-unread');
      start();
      setTimeout(function () { input.focus(); scroll(); }, 0);
    }
  }
  launcher.addEventListener('click', function () { toggle(!st.open); });
  closeBtn.addEventListener('click', function () { toggle(false); });
  form.addEventListener('submit', function (e) { e.preventDefault(); send(); });
  input.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });
})();
