/** Whether the engine can serve; when not, why (shown by /health and /ready). */
export interface EngineHealth {
  healthy: boolean;
  reason: string | null;
}
