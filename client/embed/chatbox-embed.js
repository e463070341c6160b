/*
 * chatbox embed snippet (no build step, no dependencies). A parent web app mounts the chat in an
 * iframe and answers its token requests; see client/README.md for the message format.
 *
 *   <div id="chat" style="height: 600px"></div>
 *   <script src="https://chat.example.com/chat-embed/chatbox-embed.js"></script>
 *   <script>
 *     ChatboxEmbed.mount({
 *       container: document.getElementById('chat'),
 *       chatUrl: 'https://chat.example.com/chat/',
 *       // your backend signs a short-lived JWT for the signed-in user
 *       getToken: () => fetch('/api/chatbox-token', { credentials: 'include' }).then((r) => r.text()),
 *     });
 *   </script>
 */
(function (global) {
  'use strict';

  function mount(options) {
    if (!options || !options.container || !options.chatUrl || typeof options.getToken !== 'function') {
      throw new Error('ChatboxEmbed.mount needs { container, chatUrl, getToken }');
    }
    var chatUrl = new URL(options.chatUrl, global.location.href);
    var chatOrigin = chatUrl.origin;
    // the chat only accepts tokens from this page's origin
    chatUrl.searchParams.set('parent_origin', global.location.origin);
    var frame = document.createElement('iframe');
    frame.src = chatUrl.toString();
    frame.title = options.title || 'Chat';
    frame.allow = 'microphone; camera; clipboard-write';
    frame.style.border = '0';
    frame.style.width = '100%';
    frame.style.height = '100%';
    options.container.appendChild(frame);

    var inFlight = null;
    function sendToken(reason) {
      if (inFlight) return inFlight;
      inFlight = Promise.resolve()
        .then(function () {
          return options.getToken(reason);
        })
        .then(function (token) {
          if (token)
            frame.contentWindow.postMessage(
              { type: 'chatbox:token', token: String(token).trim() },
              chatOrigin,
            );
        })
        .catch(function (error) {
          if (options.onError) options.onError(error);
        })
        .then(function () {
          inFlight = null;
        });
      return inFlight;
    }

    function onMessage(event) {
      if (event.source !== frame.contentWindow || event.origin !== chatOrigin) return;
      var data = event.data;
      if (!data || data.source !== 'chatbox') return;
      if (data.type === 'chatbox:ready' || data.type === 'chatbox:token_request')
        sendToken(data.reason || 'initial');
      if (options.onEvent) options.onEvent(data);
    }
    global.addEventListener('message', onMessage);

    return {
      iframe: frame,
      // push a token without being asked (e.g. right after the user signed in again)
      refresh: function () {
        return sendToken('parent');
      },
      destroy: function () {
        global.removeEventListener('message', onMessage);
        frame.remove();
      },
    };
  }

  global.ChatboxEmbed = { mount: mount };
})(window);
