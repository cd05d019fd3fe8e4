// Entry of the classic script build (/authbroker.js, dist/authbroker.min.js):
// defines window.AuthBroker and window.AuthBrokerError, as the broker's
// script always has. The ES module (authbroker.js) defines no global.
import { AuthBroker, AuthBrokerError } from "./authbroker.js";

globalThis.AuthBroker = AuthBroker;
globalThis.AuthBrokerError = AuthBrokerError;
