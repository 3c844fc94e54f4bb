// Starts Swagger UI on /api/docs with the gateway's own document. A file rather than an inline script: the
// Content-Security-Policy allows scripts from this origin only. No validator badge: it would call an outside site.
window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout",
  });
});
