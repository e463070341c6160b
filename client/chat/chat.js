// Minimal chat client (no build step): token from #token= or ?token=, WebSocket with replay after
// reconnect (last_seq) and resend of unacked messages by client_id. The front-end issue replaces it.
(() => {
  const params = new URLSearchParams(location.hash.slice(1) || location.search.slice(1));
  const token = params.get('token');
  const $ = (id) => document.getElementById(id);
  const list = $('messages');
  const state = { sessionId: null, lastSeq: 0, socket: null, retry: 0, unacked: new Map(), streams: new Map() };

  const setStatus = (text) => ($('status').textContent = text);
  const time = (iso) => new Date(iso || Date.now()).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

  function bubble(key, sender, text, timestamp) {
    let node = key ? document.querySelector(`[data-key="${CSS.escape(key)}"]`) : null;
    if (!node) {
      node = document.createElement('div');
      node.className = `msg ${sender}`;
      if (key) node.dataset.key = key;
      node.append(document.createElement('span'), document.createElement('time'));
      list.append(node);
    }
    node.firstChild.textContent = text; // textContent: message HTML is never executed
    node.lastChild.textContent = time(timestamp);
    list.scrollTop = list.scrollHeight;
    return node;
  }

  function connect() {
    if (!token) return setStatus('no token: open with #token=<jwt>');
    const query = new URLSearchParams({ token });
    if (state.sessionId) {
      query.set('session_id', state.sessionId);
      query.set('last_seq', String(state.lastSeq));
    }
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const socket = new WebSocket(`${scheme}://${location.host}/chat/ws?${query}`);
    state.socket = socket;
    socket.onmessage = (event) => onFrame(JSON.parse(event.data));
    socket.onclose = (event) => {
      if (event.code === 4401 || event.code === 4403) return setStatus('signed out');
      const delay = Math.min(30, 2 ** state.retry++) * (0.75 + Math.random() / 2);
      setStatus(`reconnecting in ${Math.round(delay)} s`);
      setTimeout(connect, delay * 1000);
    };
  }

  function onFrame(frame) {
    if (typeof frame.seq === 'number' && frame.session_id === state.sessionId) state.lastSeq = Math.max(state.lastSeq, frame.seq);
    switch (frame.type) {
      case 'connection_status': {
        if (frame.session_id !== state.sessionId) {
          list.replaceChildren();
          state.lastSeq = 0;
          state.sessionId = frame.session_id;
          if (frame.metadata.restored) return reopenWithHistory();
        }
        state.retry = 0;
        state.lastSeq = Math.max(state.lastSeq, frame.seq || 0);
        setStatus('connected');
        $('title').textContent = frame.metadata.name || 'Chat';
        const models = frame.metadata.models || [];
        $('model').hidden = models.length < 2;
        $('model').replaceChildren(...models.map((m) => new Option(m.name, m.id, false, m.id === frame.metadata.model_id)));
        for (const [clientId, content] of state.unacked) send({ type: 'user_message', client_id: clientId, content });
        return;
      }
      case 'ack':
        if (frame.client_id && state.unacked.delete(frame.client_id)) {
          document.querySelector(`[data-key="c:${CSS.escape(frame.client_id)}"]`)?.classList.remove('pending');
        }
        return;
      case 'user_message':
        return bubble(`c:${frame.client_id || frame.id}`, frame.sender, frame.content, frame.timestamp);
      case 'ai_response': {
        if (frame.metadata.done) {
          state.streams.delete(frame.id);
          return bubble(`r:${frame.id}`, 'ai', frame.content, frame.timestamp);
        }
        const text = (state.streams.get(frame.id) || '').slice(0, frame.metadata.offset || 0) + frame.metadata.delta;
        state.streams.set(frame.id, text);
        return bubble(`r:${frame.id}`, 'ai', text);
      }
      case 'loading':
        $('stop').hidden = !frame.metadata.loading;
        return;
      case 'session_renamed':
        $('title').textContent = frame.content;
        return;
      case 'error':
        bubble(null, 'error', frame.error.message).classList.replace('msg', 'msg');
        return;
    }
  }

  // a restored session: reconnect asking for its whole history
  function reopenWithHistory() {
    state.lastSeq = 0;
    state.socket.onclose = null;
    state.socket.close();
    connect();
  }

  function send(frame) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) state.socket.send(JSON.stringify(frame));
  }

  $('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    const content = $('input').value.trim();
    if (!content) return;
    const clientId = crypto.randomUUID();
    state.unacked.set(clientId, content);
    bubble(`c:${clientId}`, 'user', content).classList.add('pending');
    send({ type: 'user_message', client_id: clientId, content });
    $('input').value = '';
  });
  $('input').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      $('composer').requestSubmit();
    }
  });
  $('stop').addEventListener('click', () => send({ type: 'stop_generation' }));
  $('new').addEventListener('click', () => send({ type: 'new_session', client_id: crypto.randomUUID() }));
  $('model').addEventListener('change', (event) => send({ type: 'model_select', model_id: event.target.value }));
  connect();
})();
