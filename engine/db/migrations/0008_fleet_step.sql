ALTER TABLE "fleet_runs" ADD COLUMN "step" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "fleet_tasks" ADD COLUMN "step" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "generation_nodes" ADD COLUMN "fleet_step" integer DEFAULT 0 NOT NULL;