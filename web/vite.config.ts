/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run dev` serves the app on :5173 and forwards API calls to the gateway
// (GATEWAY_URL, default http://localhost:8080); `npm run build` writes dist/,
// which the gateway serves itself.
const gateway = process.env.GATEWAY_URL ?? "http://localhost:8080";
const api = [
  "/auth",
  "/admin/",
  "/bookings",
  "/event-types",
  "/public",
  "/ticket-bookings",
  "/web-config.json",
];

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: Object.fromEntries(api.map((prefix) => [prefix, { target: gateway }])),
  },
  build: { outDir: "dist", sourcemap: true, chunkSizeWarningLimit: 700 },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    css: false,
  },
});
