// Starts GraphiQL against this server: queries and mutations over HTTP, subscriptions over the
// websocket (graphql-transport-ws). A file of its own, so the page's policy can forbid inline
// scripts.
(function () {
  var ws = new URL('/graphql/ws', window.location.href);
  ws.protocol = ws.protocol === 'https:' ? 'wss:' : 'ws:';
  var fetcher = GraphiQL.createFetcher({ url: '/graphql', subscriptionUrl: ws.toString() });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
    })
  );
})();
