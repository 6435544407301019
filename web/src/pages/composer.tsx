import { useState } from 'preact/hooks';

/** The message box: a labelled text area and Send (Enter sends, Shift+Enter adds a line). */
export function Composer(props: { label: string; placeholder?: string; disabled?: boolean; hint?: string; onSend(message: string): void }) {
  const [text, setText] = useState('');
  const send = () => {
    if (props.disabled || text.trim() === '') return;
    props.onSend(text);
    setText('');
  };
  return (
    <form
      class="composer"
      onSubmit={(event) => {
        event.preventDefault();
        send();
      }}
    >
      <label for="message">{props.label}</label>
      <textarea
        id="message"
        name="message"
        rows={3}
        value={text}
        placeholder={props.placeholder}
        disabled={props.disabled}
        onInput={(event) => setText((event.target as HTMLTextAreaElement).value)}
        onKeyDown={(event) => {
          if (event.key === 'Enter' && !event.shiftKey) {
            event.preventDefault();
            send();
          }
        }}
      />
      {props.hint && <p class="muted">{props.hint}</p>}
      <button type="submit" disabled={props.disabled || text.trim() === ''}>
        Send
      </button>
    </form>
  );
}
