// Trellis GraphiQL, after the bundle: renders with the options the server put in the page.
(function () {
  var options = JSON.parse(document.getElementById('graphiql-options').textContent);
  YogaGraphiQL.renderYogaGraphiQL(document.getElementById('root'), options);
})();
