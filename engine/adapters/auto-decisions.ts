// DecisionSource for unattended runs: approves every gate and says so in the decision.
import type { ApprovalRequest, Decision, DecisionSource } from '../ports.ts'

export class AutoApprove implements DecisionSource {
  async decide(_request: ApprovalRequest): Promise<Decision> {
    return { decision: 'approve', by: 'auto' }
  }
}
