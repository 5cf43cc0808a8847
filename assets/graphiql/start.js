// Starts GraphiQL against this server: queries and mutations over HTTP, subscriptions over the
// websocket (graphql-transport-ws), with the Explorer plugin. A file of its own, so the page's
// policy can forbid inline scripts.
(function () {
  var ws = new URL('/graphql/ws', window.location.href);
  ws.protocol = ws.protocol === 'https:' ? 'wss:' : 'ws:';
  var fetcher = GraphiQL.createFetcher({ url: '/graphql', subscriptionUrl: ws.toString() });
  var firstSteps = [
    '# Welcome to Portal. First steps:',
    '#',
    '# 1. Put your email and password in SignIn below and run it (the play button',
    '#    offers each operation of this tab).',
    '# 2. Copy the token from the answer into the Headers tab at the bottom:',
    '#      {"Authorization": "Bearer <token>"}',
    '# 3. Run Me: it answers who you are. Docs (top left) and the Explorer list',
    '#    everything else; subscriptions such as importProgress run here too.',
    '',
    'mutation SignIn {',
    '  login(email: "you@example.com", password: "your password") {',
    '    token',
    '    expiresAt',
    '  }',
    '}',
    '',
    'query Me {',
    '  viewer {',
    '    email',
    '    role',
    '    status',
    '  }',
    '}',
    '',
  ].join('\n');
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: firstSteps,
      defaultHeaders: '{}',
      defaultEditorToolsVisibility: 'headers',
      plugins: [GraphiQLPluginExplorer.explorerPlugin()],
    })
  );
})();
