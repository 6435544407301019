import type { AsanaStore, AsanaUser, StoryRecord, TaskRecord } from './store';

/** A JSON value as the API answers it. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export type ResourceType = 'user' | 'workspace' | 'project' | 'section' | 'task' | 'story' | 'user_task_list';

/** `opt_fields` as a tree: `assignee.name,notes` → { assignee: { name: {} }, notes: {} }. */
export type FieldTree = Map<string, FieldTree>;

/** How much of a record to answer: Asana's compact record (lists), full record (single GETs), or `opt_fields`. */
export type Selection = 'compact' | 'full' | FieldTree;

/** The fields of Asana's compact records. */
const COMPACT_FIELDS: Record<ResourceType, readonly string[]> = {
  user: ['gid', 'name', 'resource_type'],
  workspace: ['gid', 'name', 'resource_type'],
  project: ['gid', 'name', 'resource_type'],
  section: ['gid', 'name', 'resource_type'],
  task: ['gid', 'name', 'resource_type', 'resource_subtype'],
  story: ['gid', 'created_at', 'created_by', 'resource_type', 'text', 'type', 'resource_subtype'],
  user_task_list: ['gid', 'name', 'resource_type'],
};

/** Parses `opt_fields`; `undefined` when absent or blank. */
export function parseOptFields(raw: string | null): FieldTree | undefined {
  if (raw === null || raw.trim() === '') return undefined;
  const tree: FieldTree = new Map();
  for (const path of raw.split(',')) {
    let node = tree;
    for (const key of path.trim().split('.').filter(Boolean)) {
      let child = node.get(key);
      if (!child) node.set(key, (child = new Map()));
      node = child;
    }
  }
  return tree;
}

/**
 * Renders the emulator's records as Asana resources, as the viewer may see them: references to
 * things the viewer cannot see (a private project a task is also in) are left out.
 */
export class AsanaPresenter {
  constructor(
    private readonly store: AsanaStore,
    private readonly baseUrl: () => string,
  ) {}

  render(type: ResourceType, gid: string, viewer: AsanaUser, selection: Selection): JsonObject | undefined {
    const full = this.full(type, gid, viewer);
    if (!full) return undefined;
    if (selection === 'full') return full;
    if (selection === 'compact') return pick(full, COMPACT_FIELDS[type]);
    return this.project(full, selection, viewer);
  }

  /** Renders a list, dropping anything that no longer renders. */
  renderAll(type: ResourceType, gids: readonly string[], viewer: AsanaUser, selection: Selection): JsonObject[] {
    return gids.map((gid) => this.render(type, gid, viewer, selection)).filter((r): r is JsonObject => r !== undefined);
  }

  private project(full: JsonObject, tree: FieldTree, viewer: AsanaUser): JsonObject {
    const out: JsonObject = {};
    if (full.gid !== undefined) out.gid = full.gid;
    if (full.resource_type !== undefined) out.resource_type = full.resource_type;
    for (const [key, subtree] of tree) {
      const value = full[key];
      // Unknown fields are skipped rather than refused, so a client asking for more still gets an answer.
      if (value === undefined) continue;
      out[key] = subtree.size === 0 ? value : this.expand(value, subtree, viewer);
    }
    return out;
  }

  private expand(value: Json, tree: FieldTree, viewer: AsanaUser): Json {
    if (Array.isArray(value)) return value.map((item) => this.expand(item, tree, viewer));
    if (value === null || typeof value !== 'object') return value;
    const { gid, resource_type: type } = value;
    const referenced =
      typeof gid === 'string' && typeof type === 'string' && isResourceType(type) ? this.full(type, gid, viewer) : undefined;
    return this.project(referenced ?? value, tree, viewer);
  }

  private full(type: ResourceType, gid: string, viewer: AsanaUser): JsonObject | undefined {
    const store = this.store;
    switch (type) {
      case 'workspace':
        return gid === store.workspace.gid ? this.workspace() : undefined;
      case 'user': {
        const user = store.users.get(gid);
        return user && { gid, resource_type: 'user', name: user.name, email: user.email, photo: null, workspaces: [this.workspaceRef()] };
      }
      case 'project': {
        const project = store.visibleProject(viewer, gid);
        if (!project) return undefined;
        const members = project.members.map((m) => this.userRef(m)).filter((r): r is JsonObject => r !== null);
        return {
          gid,
          resource_type: 'project',
          name: project.name,
          archived: false,
          color: null,
          completed: false,
          created_at: store.state.seededAt,
          modified_at: store.state.seededAt,
          notes: '',
          public: project.public,
          privacy_setting: project.public ? 'public_to_workspace' : 'private',
          members,
          followers: members,
          owner: members[0] ?? null,
          team: null,
          due_on: null,
          start_on: null,
          current_status: null,
          default_view: 'list',
          workspace: this.workspaceRef(),
          permalink_url: `${this.baseUrl()}/0/${gid}/list`,
        };
      }
      case 'section': {
        const section = store.visibleSection(viewer, gid);
        if (!section) return undefined;
        return {
          gid,
          resource_type: 'section',
          name: section.name,
          created_at: store.state.seededAt,
          project: this.projectRef(section.project),
        };
      }
      case 'task': {
        const task = store.visibleTask(viewer, gid);
        return task && this.task(task, viewer);
      }
      case 'story': {
        const story = store.state.stories.find((s) => s.gid === gid);
        return story && store.visibleTask(viewer, story.task) ? this.story(story) : undefined;
      }
      case 'user_task_list': {
        const owner = store.userTaskListOwner(gid);
        return (
          owner && {
            gid,
            resource_type: 'user_task_list',
            name: 'My Tasks',
            owner: this.userRef(owner.gid),
            workspace: this.workspaceRef(),
          }
        );
      }
    }
  }

  private task(task: TaskRecord, viewer: AsanaUser): JsonObject {
    const store = this.store;
    const projects = task.projects.filter((gid) => store.visibleProject(viewer, gid));
    const parent = task.parent === null ? undefined : store.visibleTask(viewer, task.parent);
    return {
      gid: task.gid,
      resource_type: 'task',
      resource_subtype: 'default_task',
      name: task.name,
      notes: task.notes,
      html_notes: `<body>${escapeHtml(task.notes)}</body>`,
      assignee: task.assignee === null ? null : this.userRef(task.assignee),
      assignee_status: task.assignee === null ? null : 'inbox',
      completed: task.completed,
      completed_at: task.completedAt,
      created_at: task.createdAt,
      modified_at: task.modifiedAt,
      created_by: task.createdBy === null ? null : { gid: task.createdBy, resource_type: 'user' },
      due_on: task.dueOn,
      due_at: null,
      start_on: task.startOn,
      start_at: null,
      followers: task.followers.map((f) => this.userRef(f)).filter((r): r is JsonObject => r !== null),
      projects: projects.map((gid) => this.projectRef(gid)),
      memberships: projects.map((gid) => {
        const section = store.sectionOf(gid);
        return {
          project: this.projectRef(gid),
          section: section ? { gid: section.gid, name: section.name, resource_type: 'section' } : null,
        };
      }),
      parent: parent ? { gid: parent.gid, name: parent.name, resource_type: 'task', resource_subtype: 'default_task' } : null,
      num_subtasks: store.subtasks(viewer, task.gid).length,
      tags: [],
      liked: false,
      num_likes: 0,
      workspace: this.workspaceRef(),
      permalink_url: `${this.baseUrl()}/0/${task.projects[0] ?? '0'}/${task.gid}`,
    };
  }

  private story(story: StoryRecord): JsonObject {
    return {
      gid: story.gid,
      resource_type: 'story',
      resource_subtype: 'comment_added',
      type: 'comment',
      created_at: story.createdAt,
      created_by: this.userRef(story.author),
      text: story.text,
      html_text: `<body>${escapeHtml(story.text)}</body>`,
      is_pinned: false,
      is_edited: false,
      target: this.taskRef(story.task),
    };
  }

  private workspace(): JsonObject {
    return {
      gid: this.store.workspace.gid,
      resource_type: 'workspace',
      name: this.store.workspace.name,
      is_organization: false,
      email_domains: [],
    };
  }

  private workspaceRef(): JsonObject {
    return { gid: this.store.workspace.gid, name: this.store.workspace.name, resource_type: 'workspace' };
  }

  private userRef(gid: string): JsonObject | null {
    const user = this.store.users.get(gid);
    return user ? { gid, name: user.name, resource_type: 'user' } : null;
  }

  private projectRef(gid: string): JsonObject {
    return { gid, name: this.store.projects.get(gid)?.name ?? '', resource_type: 'project' };
  }

  private taskRef(gid: string): JsonObject {
    const task = this.store.state.tasks.find((t) => t.gid === gid);
    return { gid, name: task?.name ?? '', resource_type: 'task', resource_subtype: 'default_task' };
  }
}

function pick(full: JsonObject, fields: readonly string[]): JsonObject {
  const out: JsonObject = {};
  for (const field of fields) {
    const value = full[field];
    if (value !== undefined) out[field] = value;
  }
  return out;
}

function isResourceType(type: string): type is ResourceType {
  return type in COMPACT_FIELDS;
}

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
