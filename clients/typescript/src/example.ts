// A typed client generated from api-spec/openapi.json alone: open a return, then read the zone
// ledger the unit lands in. `tsc` checks every path, parameter, body and response field here
// against the spec; a change to the API that breaks this breaks CI.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

type ZoneLedger = components["schemas"]["ZoneLedger"];
type Problem = components["schemas"]["Problem"];

export async function openAndRegister(baseUrl: string, tokens: { fieldReceiver: string; afterSales: string }): Promise<ZoneLedger | Problem> {
  const client = createClient<paths>({ baseUrl });
  const serial = "SN-TS-1";
  const opened = await client.POST("/v1/units/{serial}/returns", {
    params: { path: { serial }, header: { "Idempotency-Key": "ts-example-1" } },
    headers: { Authorization: `Bearer ${tokens.fieldReceiver}` },
    body: {
      return_id: "R-TS-1",
      mode: "carried",
      customer: { customer_id: "C-1", name: "Plant" },
      product: { model: "RD-40", production_date: "2025-09-01", warranty_end: "2027-09-01", batch: "B-1" },
      form: {
        fault_symptoms: "no output after warm-up",
        site: "line 3",
        circumstances: "after a power cut",
        filled_by: "li.fr",
        unverifiable_reason: null,
      },
      customer_signature: {
        name: "Zhang San",
        signed_at: "2026-03-02T08:00:00Z",
        evidence: { kind: "typed", reason: "the customer signed the paper handover form No. 17" },
      },
      // Rule 3: a carried return records when the field receiver came back to the factory.
      receiver_returned_at: new Date(Date.now() - 3600_000).toISOString(),
      customer_due_date: null,
    },
  });
  if (opened.error) return opened.error;
  const position: number = opened.data.position;
  const ledger = await client.GET("/v1/zones/{zone}", {
    params: { path: { zone: "awaiting_repair" }, query: { min_position: position } },
    headers: { Authorization: `Bearer ${tokens.afterSales}` },
  });
  if (ledger.error) return ledger.error;
  const occupants: string[] = ledger.data.occupants;
  console.log(`${occupants.length} unit(s) await repair; ${ledger.data.lines.length} ledger line(s)`);
  return ledger.data;
}
