// Test-only: evaluates IAM requests offline with @cloud-copilot/iam-simulate (AGPL-3.0, see docs/iam-check.md).
//
// Protocol: every line on stdin is one JSON batch, answered by one JSON line on stdout, in order:
//   {"principals": {"<role arn>": [{"name": ..., "policy": {...}}]},
//    "resourcePolicies": {"<key>": {...}},
//    "requests": [{"principal": "<role arn>", "action": "s3:GetObject", "resource": "<arn or *>",
//                  "account": "123456789012", "context": {...}, "resourcePolicy": "<key>" | null}]}
//   -> {"results": [{"decision": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied" | "Error",
//                    "allowedBy": [{"policy", "statement", "actions", "resources"}], "error": ...}]}
// "statement" is the statement's Sid, or its 1-based index when it has none.
import { createInterface } from 'node:readline'
import { runSimulation } from '@cloud-copilot/iam-simulate'

const asList = (value) => (value === undefined ? [] : Array.isArray(value) ? value : [value])

function grants(statements) {
  return statements.map((s) => ({
    policy: s.policyId,
    statement: s.explain?.identifier ?? null,
    actions: asList(s.explain?.actions).filter((a) => a.matches).map((a) => a.action),
    resources: asList(s.explain?.resources).filter((r) => r.matches).map((r) => r.resource),
  }))
}

async function evaluate(batch, request) {
  const resourcePolicy = request.resourcePolicy ? batch.resourcePolicies[request.resourcePolicy] : undefined
  const simulation = {
    request: {
      principal: request.principal,
      action: request.action,
      resource: { resource: request.resource, accountId: request.account },
      contextVariables: request.context,
    },
    identityPolicies: batch.principals[request.principal] ?? [],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy,
  }
  const response = await runSimulation(simulation, {})
  if (response.resultType === 'error') {
    return { decision: 'Error', allowedBy: [], error: response.errors }
  }
  const results = response.resultType === 'single' ? [response.result] : response.results
  const identity = results.flatMap((r) => r.analysis?.identityAnalysis?.allowStatements ?? [])
  const denies = results.flatMap((r) => [
    ...(r.analysis?.identityAnalysis?.denyStatements ?? []),
    ...(r.analysis?.resourceAnalysis?.denyStatements ?? []),
  ])
  const ignored = results.flatMap((r) => r.ignoredContextKeys ?? [])
  return {
    decision: response.overallResult,
    allowedBy: grants(identity),
    deniedBy: grants(denies),
    ignoredContextKeys: ignored,
  }
}

for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (!line.trim()) continue
  const batch = JSON.parse(line)
  const results = []
  for (const request of batch.requests) {
    try {
      results.push(await evaluate(batch, request))
    } catch (error) {
      results.push({ decision: 'Error', allowedBy: [], error: String(error) })
    }
  }
  process.stdout.write(JSON.stringify({ results }) + '\n')
}
