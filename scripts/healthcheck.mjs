// Container health check (Dockerfile HEALTHCHECK and the ECS task definitions): exit 0 when GET
// /health answers 200 within 3 s, 1 otherwise. Node only: the slim image has no curl. The port is
// the first argument (the console's task passes its CONSOLE_PORT), else HTTP_PORT (the processor's).
const port = process.argv[2] || process.env.HTTP_PORT || '8080';
try {
  const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(3000) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
