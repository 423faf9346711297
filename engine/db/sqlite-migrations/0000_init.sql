CREATE TABLE `approvals` (
	`run_id` text NOT NULL,
	`gate` text NOT NULL,
	`revision` integer NOT NULL,
	`request` text NOT NULL,
	`decision` text,
	`requested_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`decided_at` integer,
	PRIMARY KEY(`run_id`, `gate`, `revision`),
	FOREIGN KEY (`run_id`) REFERENCES `generations`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `generation_events` (
	`run_id` text NOT NULL,
	`seq` integer NOT NULL,
	`type` text NOT NULL,
	`node` text,
	`timestamp` integer NOT NULL,
	`payload` text DEFAULT '{}' NOT NULL,
	PRIMARY KEY(`run_id`, `seq`),
	FOREIGN KEY (`run_id`) REFERENCES `generations`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `generation_nodes` (
	`run_id` text NOT NULL,
	`node_id` text NOT NULL,
	`position` integer,
	`type` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`started_at` integer,
	`finished_at` integer,
	`duration_ms` real,
	`output` text,
	`error` text,
	`skip_reason` text,
	`stage` text,
	`inputs_hash` text,
	PRIMARY KEY(`run_id`, `node_id`),
	FOREIGN KEY (`run_id`) REFERENCES `generations`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `generations` (
	`id` text PRIMARY KEY NOT NULL,
	`pipeline_name` text NOT NULL,
	`pipeline_version` text NOT NULL,
	`pipeline_version_numeric` integer DEFAULT false NOT NULL,
	`pipeline_file` text NOT NULL,
	`status` text NOT NULL,
	`interactive` integer DEFAULT false NOT NULL,
	`inputs` text NOT NULL,
	`config` text NOT NULL,
	`outputs` text,
	`error` text,
	`error_message` text,
	`current_stage` text,
	`prompt` text,
	`framework` text,
	`brand_assets` text,
	`story_text` text,
	`reference_images` text,
	`scenes` text,
	`video_clips` text,
	`final_video_url` text,
	`created_at` integer NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`started_at` integer,
	`finished_at` integer,
	`session_id` text,
	`owner` text,
	`lease_until` integer,
	`owner_host` text,
	`owner_pid` integer
);
--> statement-breakpoint
CREATE INDEX `generations_created_idx` ON `generations` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `generations_status_created_idx` ON `generations` (`status`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `generations_session_idx` ON `generations` (`session_id`,`created_at`);