// Starts Swagger UI on /api/docs with the gateway's own document. A file rather than an inline script: the
// Content-Security-Policy allows scripts from this origin only. BaseLayout, not StandaloneLayout: the standalone
// top bar's logo is an SVG with an inline <style> the policy refuses, and its box would load other documents.
// No validator badge: it would call an outside site.
window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
