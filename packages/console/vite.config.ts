import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// Built into the server package's dist/console; berth serve serves it at /ui/ (same origin
// as the API, no CDN, works offline).
export default defineConfig({
  root: import.meta.dirname,
  base: "/ui/",
  plugins: [react()],
  build: {
    outDir: "../../dist/console",
    emptyOutDir: true,
    // No inline script or style anywhere: the server's CSP allows 'self' only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: true,
    chunkSizeWarningLimit: 400,
  },
});
