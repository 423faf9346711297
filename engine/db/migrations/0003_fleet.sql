CREATE TABLE "fleet_runs" (
	"run_id" text PRIMARY KEY NOT NULL,
	"work_dir" text NOT NULL,
	"next_position" integer DEFAULT 0 NOT NULL,
	"cancel" jsonb
);
--> statement-breakpoint
CREATE TABLE "fleet_tasks" (
	"run_id" text NOT NULL,
	"key" text NOT NULL,
	"kind" text NOT NULL,
	"node" text NOT NULL,
	"position" integer NOT NULL,
	"status" text NOT NULL,
	"attempt" integer DEFAULT 0 NOT NULL,
	"fence" integer DEFAULT 0 NOT NULL,
	"spec" jsonb NOT NULL,
	"outcome" jsonb,
	"memo" jsonb,
	"worker" text,
	"heartbeat_at" timestamp (3) with time zone,
	CONSTRAINT "fleet_tasks_run_id_key_pk" PRIMARY KEY("run_id","key")
);
--> statement-breakpoint
CREATE TABLE "fleet_workers" (
	"id" text PRIMARY KEY NOT NULL,
	"queue_workers" jsonb NOT NULL,
	"heartbeat_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "fleet_runs" ADD CONSTRAINT "fleet_runs_run_id_generations_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."generations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "fleet_tasks" ADD CONSTRAINT "fleet_tasks_run_id_generations_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."generations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "fleet_tasks_running_idx" ON "fleet_tasks" USING btree ("heartbeat_at") WHERE "fleet_tasks"."status" = 'running';