// Trellis GraphiQL, before the bundle: Monaco's workers come from this server (worker-src 'self').
(function () {
  var workers = {
    editorWorkerService: '/graphiql/editor.worker.js',
    json: '/graphiql/json.worker.js',
    graphql: '/graphiql/graphql.worker.js',
  };
  self.MonacoEnvironment = {
    globalAPI: false,
    getWorkerUrl: function (_moduleId, label) {
      return workers[label] || workers.editorWorkerService;
    },
  };
})();
