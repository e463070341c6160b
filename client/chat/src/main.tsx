import { render } from 'preact';
import { App } from './app';
import { ChatClient } from './chat-client';
import { tokenFromLocation } from './token-bridge';
import './chat.css';

const client = new ChatClient(tokenFromLocation(window.location));
// exposed for parent pages in the same origin and for the browser tests; holds no secret the page lacks
(window as Window & { chatbox?: ChatClient }).chatbox = client;
render(<App client={client} />, document.getElementById('app') as HTMLElement);
client.start();
