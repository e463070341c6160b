// The API docs page: Swagger UI (swagger-ui-dist, served under /chat/api-docs/assets/) over
// /chat/openapi.json. No inline script (the page CSP allows 'self' only). With API_DOCS=admin the
// document needs an admin's token: the page takes it from the URL fragment (#token=…, never sent to
// a server or logged) or asks for it, and keeps it in sessionStorage.
export const API_DOCS_HTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>chatbox API</title>
    <link rel="stylesheet" href="/chat/api-docs/assets/swagger-ui.css" />
  </head>
  <body>
    <form id="token-form" hidden>
      <label>Admin token <input id="token" type="password" autocomplete="off" /></label>
      <button type="submit">Load</button>
      <span id="problem"></span>
    </form>
    <div id="ui"></div>
    <script src="/chat/api-docs/assets/swagger-ui-bundle.js"></script>
    <script src="/chat/api-docs/init.js"></script>
  </body>
</html>
`;

export const API_DOCS_SCRIPT = `(() => {
  const KEY = 'chatbox.apiDocsToken';
  const form = document.getElementById('token-form');
  const fragment = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fragment) {
    sessionStorage.setItem(KEY, fragment);
    history.replaceState(null, '', location.pathname);
  }
  async function load() {
    const token = sessionStorage.getItem(KEY);
    const response = await fetch('/chat/openapi.json', {
      headers: token ? { authorization: 'Bearer ' + token } : {},
    });
    if (response.status === 401 || response.status === 403) {
      form.hidden = false;
      document.getElementById('problem').textContent = token ? 'not an admin token' : '';
      return;
    }
    form.hidden = true;
    const spec = await response.json();
    window.SwaggerUIBundle({
      spec,
      dom_id: '#ui',
      requestInterceptor: (request) => {
        const current = sessionStorage.getItem(KEY);
        if (current && !request.headers.authorization) request.headers.authorization = 'Bearer ' + current;
        return request;
      },
    });
  }
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, document.getElementById('token').value.trim());
    void load();
  });
  void load();
})();
`;
