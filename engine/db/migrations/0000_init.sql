CREATE TABLE "approvals" (
	"run_id" text NOT NULL,
	"gate" text NOT NULL,
	"revision" integer NOT NULL,
	"request" jsonb NOT NULL,
	"decision" jsonb,
	"requested_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"decided_at" timestamp (3) with time zone,
	CONSTRAINT "approvals_run_id_gate_revision_pk" PRIMARY KEY("run_id","gate","revision")
);
--> statement-breakpoint
CREATE TABLE "generation_events" (
	"run_id" text NOT NULL,
	"seq" integer NOT NULL,
	"type" text NOT NULL,
	"node" text,
	"timestamp" timestamp (3) with time zone NOT NULL,
	"payload" jsonb DEFAULT '{}'::jsonb NOT NULL,
	CONSTRAINT "generation_events_run_id_seq_pk" PRIMARY KEY("run_id","seq")
);
--> statement-breakpoint
CREATE TABLE "generation_nodes" (
	"run_id" text NOT NULL,
	"node_id" text NOT NULL,
	"position" integer,
	"type" text NOT NULL,
	"status" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"started_at" timestamp (3) with time zone,
	"finished_at" timestamp (3) with time zone,
	"duration_ms" double precision,
	"output" jsonb,
	"error" jsonb,
	"skip_reason" text,
	"stage" text,
	"inputs_hash" text,
	CONSTRAINT "generation_nodes_run_id_node_id_pk" PRIMARY KEY("run_id","node_id")
);
--> statement-breakpoint
CREATE TABLE "generations" (
	"id" text PRIMARY KEY NOT NULL,
	"pipeline_name" text NOT NULL,
	"pipeline_version" text NOT NULL,
	"pipeline_version_numeric" boolean DEFAULT false NOT NULL,
	"pipeline_file" text NOT NULL,
	"status" text NOT NULL,
	"interactive" boolean DEFAULT false NOT NULL,
	"inputs" jsonb NOT NULL,
	"config" jsonb NOT NULL,
	"outputs" jsonb,
	"error" jsonb,
	"error_message" text,
	"current_stage" text,
	"prompt" text,
	"framework" text,
	"brand_assets" jsonb,
	"story_text" text,
	"reference_images" jsonb,
	"scenes" jsonb,
	"video_clips" jsonb,
	"final_video_url" text,
	"created_at" timestamp (3) with time zone NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp (3) with time zone,
	"finished_at" timestamp (3) with time zone,
	"owner" text,
	"lease_until" timestamp (3) with time zone
);
--> statement-breakpoint
ALTER TABLE "approvals" ADD CONSTRAINT "approvals_run_id_generations_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."generations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "generation_events" ADD CONSTRAINT "generation_events_run_id_generations_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."generations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "generation_nodes" ADD CONSTRAINT "generation_nodes_run_id_generations_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."generations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "generations_created_idx" ON "generations" USING btree ("created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "generations_status_created_idx" ON "generations" USING btree ("status","created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST);