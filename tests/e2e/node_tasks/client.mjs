// A small MCP client in Node that declares the Tasks extension (SEP-2663) on each request,
// with the extension's own package (@modelcontextprotocol/ext-tasks) stamping the capability
// and validating every task-shaped answer against its schemas. Plain JSON-RPC over streamable
// HTTP at protocol 2026-07-28 (per-request envelope, no handshake).
//
// usage: node client.mjs MCP_URL TOKEN EMPLOYEE SLOW_EMPLOYEE PROJECT
// prints one line per step; exits non-zero on the first thing that is not as the spec says.
import {
  CancelTaskResultV2Schema,
  CreateTaskResultV2Schema,
  GetTaskResultV2Schema,
  isCreateTaskResultV2,
  withTaskCapabilityV2,
} from "@modelcontextprotocol/ext-tasks/core/v2";

const [url, token, employee, slowEmployee, project] = process.argv.slice(2);
const VERSION = "2026-07-28";
const TERMINAL = new Set(["completed", "failed", "cancelled"]);
let nextId = 1;

function envelope(params, declareTasks) {
  const meta = {
    "io.modelcontextprotocol/protocolVersion": VERSION,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": { name: "aura-e2e-node", version: "1" },
  };
  const framed = { ...params, _meta: meta };
  return declareTasks ? withTaskCapabilityV2(framed) : framed;
}

async function rpc(method, params, { declareTasks = true, name } = {}) {
  const id = nextId++;
  const response = await fetch(url, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${token}`,
      "Content-Type": "application/json",
      Accept: "application/json, text/event-stream",
      "MCP-Protocol-Version": VERSION,
      "Mcp-Method": method,
      // SEP-2663: tasks/* carry the task id in Mcp-Name; tools/call carries the tool name.
      ...(name ? { "Mcp-Name": name } : {}),
    },
    body: JSON.stringify({ jsonrpc: "2.0", id, method, params: envelope(params, declareTasks) }),
  });
  const text = await response.text();
  const type = response.headers.get("content-type") ?? "";
  const bodies = type.includes("text/event-stream")
    ? text.split("\n").filter((l) => l.startsWith("data:")).map((l) => JSON.parse(l.slice(5)))
    : [JSON.parse(text)];
  const answer = bodies.find((b) => b.id === id);
  if (!answer) throw new Error(`${method}: no answer (HTTP ${response.status}): ${text}`);
  return answer;
}

async function result(method, params, options) {
  const answer = await rpc(method, params, options);
  if (answer.error) throw new Error(`${method}: ${JSON.stringify(answer.error)}`);
  return answer.result;
}

async function poll(taskId) {
  for (let i = 0; i < 120; i++) {
    const task = GetTaskResultV2Schema.parse(
      await result("tasks/get", { taskId }, { name: taskId }));
    if (TERMINAL.has(task.status)) return task;
    await new Promise((r) => setTimeout(r, task.pollIntervalMs ?? 1000));
  }
  throw new Error(`task ${taskId} did not end`);
}

function submit(who, prompt, declareTasks = true) {
  return result("tools/call",
    { name: "submit_job", arguments: { prompt, employee: who, project } },
    { name: "submit_job", declareTasks });
}

// 1. A task, created and polled to completion.
const created = await submit(employee, "add a line from node");
if (!isCreateTaskResultV2(created)) throw new Error(`not a task: ${JSON.stringify(created)}`);
CreateTaskResultV2Schema.parse(created);
const done = await poll(created.taskId);
if (done.status !== "completed") throw new Error(`ended ${JSON.stringify(done)}`);
console.log(`completed ${done.result.structuredContent.status}`);

// 2. Another, cancelled with tasks/cancel.
const doomed = await submit(slowEmployee, "sleep from node");
CreateTaskResultV2Schema.parse(doomed);
CancelTaskResultV2Schema.parse(
  await result("tasks/cancel", { taskId: doomed.taskId }, { name: doomed.taskId }));
console.log((await poll(doomed.taskId)).status);

// 3. Without the capability: today's result, and tasks/get refused with -32021.
const plain = await submit(employee, "no tasks here", false);
if (plain.resultType === "task" || !plain.structuredContent?.job_id) {
  throw new Error(`expected a plain result: ${JSON.stringify(plain)}`);
}
const refused = await rpc("tasks/get", { taskId: created.taskId },
  { name: created.taskId, declareTasks: false });
if (refused.error?.code !== -32021) throw new Error(`expected -32021: ${JSON.stringify(refused)}`);
console.log("plain without the extension");
