package hotline

// What the voice menu says, in English and Spanish. The greeting and the
// language choice are said in both.
var prompts = map[string]map[string]string{
	"en": {
		"privacy":    "Your call is private: we keep your number only to help you, and never share it.",
		"menu":       "What do you need help with? Press 1 for jobs, 2 for housing, 3 for classes and counseling, 4 for mentoring, 5 for food, clothing and basic needs, 6 for ID and documents, 7 for something else. Press 0 to talk to a person, or star to hear this again. You can also say what you need.",
		"say":        "After the tone, please say in a few words what you need.",
		"zip":        "Please enter your 5 digit ZIP code, then press pound. If you don't want to, just press pound.",
		"zipBad":     "Sorry, that is not a ZIP code we know.",
		"zipSkip":    "OK, we will search without a ZIP code.",
		"none":       "Sorry, we did not find a match for that. Let's try again.",
		"crisis":     "If you might hurt yourself, please call or text 9 8 8 now, the Suicide and Crisis Lifeline, any hour. If you are in danger right now, hang up and call 9 1 1.",
		"found":      "Here is what we found.",
		"number":     "Number %d:",
		"phone":      "Phone:",
		"miles":      "About %s miles away.",
		"mile":       "About a mile away.",
		"in":         "In %s.",
		"noPhone":    "No phone number is listed.",
		"after":      "Press 1 and we will text you these. Press 2 to hear more, 3 for a new search, or 0 to talk to a person.",
		"noMore":     "Those are all the places we found.",
		"texted":     "We have texted you these places.",
		"notTexted":  "Sorry, we could not text this number. Please write the numbers down, or call us back.",
		"consent":    "May we text you in a few days to see whether this helped? Press 1 for yes, 2 for no.",
		"consentYes": "Thank you. We will check in with you by text.",
		"consentNo":  "OK, we will not text you about it.",
		"anything":   "Press 3 for a new search, 0 to talk to a person, or just hang up. Thank you for calling Second Chance.",
		"sorry":      "Sorry, I didn't get that.",
		"stuck":      "Let's get you some help. Press 0 to talk to a person, or 9 to leave a message and we will call you back.",
		"goodbye":    "Thank you for calling Second Chance Kansas City. You can call us any time at 8 1 6, 2 3 1, 0 2 1 7. Goodbye.",
		"connecting": "Connecting you to a staff member. Please hold.",
		"noAnswer":   "Sorry, nobody could answer right now.",
		"closed":     "Our staff are not available right now. We answer calls %s, Central time.",
		"holiday":    "Our office is closed today.",
		"vmOffer":    "Press 1 to leave a message and we will call you back, or 2 to go back to the menu.",
		"vmPrompt":   "Please leave your message after the tone, with the best number to reach you. Press pound when you are done.",
		"vmThanks":   "Thank you. Your message was recorded, and a staff member will call you back.",
		"vmNone":     "We did not get a message.",
		"error":      "Sorry, something went wrong on our side.",
	},
	"es": {
		"privacy":    "Su llamada es privada: guardamos su número solo para ayudarle y nunca lo compartimos.",
		"menu":       "¿Con qué necesita ayuda? Oprima 1 para empleo, 2 para vivienda, 3 para clases y consejería, 4 para mentores, 5 para comida, ropa y necesidades básicas, 6 para identificación y documentos, 7 para otra cosa. Oprima 0 para hablar con una persona, o asterisco para oír esto otra vez. También puede decir lo que necesita.",
		"say":        "Después del tono, diga en pocas palabras lo que necesita.",
		"zip":        "Marque su código postal de 5 dígitos y luego la tecla de numeral. Si prefiere no hacerlo, oprima solo numeral.",
		"zipBad":     "Perdón, no conocemos ese código postal.",
		"zipSkip":    "Bien, buscaremos sin código postal.",
		"none":       "Perdón, no encontramos nada para eso. Intentemos otra vez.",
		"crisis":     "Si piensa hacerse daño, llame o envíe un texto al 9 8 8 ahora, la Línea de Prevención del Suicidio y Crisis, a toda hora. Si está en peligro ahora mismo, cuelgue y llame al 9 1 1.",
		"found":      "Esto es lo que encontramos.",
		"number":     "Número %d:",
		"phone":      "Teléfono:",
		"miles":      "A unas %s millas.",
		"mile":       "A una milla más o menos.",
		"in":         "En %s.",
		"noPhone":    "No tiene teléfono en la lista.",
		"after":      "Oprima 1 y le enviaremos esto por mensaje de texto. Oprima 2 para oír más, 3 para una nueva búsqueda, o 0 para hablar con una persona.",
		"noMore":     "Esos son todos los lugares que encontramos.",
		"texted":     "Le enviamos estos lugares por mensaje de texto.",
		"notTexted":  "Perdón, no pudimos enviar un texto a este número. Por favor anote los números, o vuelva a llamar.",
		"consent":    "¿Podemos enviarle un texto en unos días para saber si esto le ayudó? Oprima 1 para sí, 2 para no.",
		"consentYes": "Gracias. Le escribiremos por mensaje de texto.",
		"consentNo":  "Bien, no le escribiremos sobre esto.",
		"anything":   "Oprima 3 para una nueva búsqueda, 0 para hablar con una persona, o cuelgue. Gracias por llamar a Second Chance.",
		"sorry":      "Perdón, no le entendí.",
		"stuck":      "Vamos a conseguirle ayuda. Oprima 0 para hablar con una persona, o 9 para dejar un mensaje y le llamaremos.",
		"goodbye":    "Gracias por llamar a Second Chance Kansas City. Puede llamarnos cuando quiera al 8 1 6, 2 3 1, 0 2 1 7. Adiós.",
		"connecting": "Le comunicamos con alguien de nuestro equipo. Por favor espere.",
		"noAnswer":   "Perdón, nadie pudo contestar en este momento.",
		"closed":     "Nuestro equipo no está disponible ahora. Atendemos llamadas %s, hora del centro.",
		"holiday":    "Nuestra oficina está cerrada hoy.",
		"vmOffer":    "Oprima 1 para dejar un mensaje y le llamaremos, o 2 para volver al menú.",
		"vmPrompt":   "Deje su mensaje después del tono, con el mejor número para llamarle. Oprima numeral al terminar.",
		"vmThanks":   "Gracias. Grabamos su mensaje y alguien de nuestro equipo le llamará.",
		"vmNone":     "No recibimos un mensaje.",
		"error":      "Perdón, algo salió mal de nuestro lado.",
	},
}

// greeting is said before the language is known.
const (
	greetingEN = "Thank you for calling Second Chance Kansas City. For English, press 1."
	greetingES = "Para español, oprima 2."
)

// needKeys maps the need menu's keys to category keys of
// directory.Categories(); 7 is "say it".
var needKeys = map[string]string{
	"1": "employment",
	"2": "housing",
	"3": "classes",
	"4": "mentoring",
	"5": "basic-needs",
	"6": "id-documents",
}

func prompt(lang, key string) string {
	if p, ok := prompts[lang][key]; ok {
		return p
	}
	return prompts["en"][key]
}
