import DOMPurify from 'dompurify';
import { Marked } from 'marked';

const escapeHtml = (value: string) =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Markdown only: HTML written in the text (a task named `<img …>`) is shown as the text it is. */
const markdown = new Marked({
  gfm: true,
  breaks: false,
  renderer: {
    html: ({ text }) => escapeHtml(text),
  },
});

/**
 * Claude's Markdown as safe HTML: `marked` renders it with raw HTML escaped, and DOMPurify keeps only inert markup (no
 * scripts, event handlers, styles or `javascript:` URLs). Links open in a new tab without a referrer.
 */
export function renderMarkdown(text: string): string {
  const html = markdown.parse(text, { async: false });
  const clean = DOMPurify.sanitize(html, {
    USE_PROFILES: { html: true },
    FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'img', 'iframe'],
    FORBID_ATTR: ['style'],
  });
  const template = document.createElement('template');
  template.innerHTML = clean;
  for (const link of template.content.querySelectorAll('a')) {
    link.setAttribute('target', '_blank');
    link.setAttribute('rel', 'noopener noreferrer');
  }
  return template.innerHTML;
}
