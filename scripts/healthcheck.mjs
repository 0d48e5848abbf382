// Container health check (Dockerfile HEALTHCHECK and the ECS task definition): exit 0 when the
// processor's GET /health answers 200 within 3 s, 1 otherwise. Node only: the slim image has no curl.
const port = process.env.HTTP_PORT || '8080';
try {
  const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(3000) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
